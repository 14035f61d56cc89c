"""Fills and the exact bookkeeping of one position: average entry, realized PnL, fees.

Cost basis is kept as an exact :class:`~fractions.Fraction` of base units, so average entry
never drifts. Realized PnL settles as an integer rounded down and fees as an integer rounded
up: both against the account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from darkpool.domain import Account, BaseUnits, Fill, Instrument, Lots, Side, Ticks
from darkpool.errors import MarginError

__all__ = [
    "AccountFill",
    "FillEffect",
    "apply_fill_to_position",
    "average_entry_ticks",
    "exact_rate",
    "tick_value",
]


def exact_rate(value: float | Fraction | str) -> Fraction:
    """Return ``value`` as an exact fraction, reading floats by their shortest decimal form."""
    try:
        rate = value if isinstance(value, Fraction) else Fraction(str(value))
    except (ValueError, OverflowError):
        raise MarginError(f"rate must be a finite number, got {value!r}") from None
    if rate < 0:
        raise MarginError(f"rate must be non-negative, got {value!r}")
    return rate


def tick_value(instrument: Instrument, collateral_scale: int) -> Fraction:
    """Return the base units one tick is worth on one lot of ``instrument``."""
    return (
        Fraction(str(instrument.tick_size))
        * Fraction(str(instrument.lot_size))
        * Fraction(str(instrument.multiplier))
        * collateral_scale
    )


@dataclass(frozen=True, slots=True)
class AccountFill:
    """A fill of ``quantity_lots`` on ``instrument`` (symbol) for ``account`` at ``price_ticks``."""

    account: Account
    instrument: str
    side: Side
    quantity_lots: Lots
    price_ticks: Ticks
    fee_rate: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise MarginError(f"fill side must be a Side, got {self.side!r}")
        for name, minimum in (("quantity_lots", 1), ("price_ticks", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise MarginError(f"fill {name} must be an integer of at least {minimum}, got {value!r}")
        exact_rate(self.fee_rate)

    @classmethod
    def from_fill(cls, fill: Fill, account: Account, instrument: str, side: Side, fee_rate: float = 0.0) -> AccountFill:
        """Attach the owner, instrument and side of a round's :class:`~darkpool.domain.Fill`."""
        return cls(account, instrument, side, fill.quantity_lots, fill.price_ticks, fee_rate)


@dataclass(frozen=True, slots=True)
class FillEffect:
    """A position after a fill, and the integer realized PnL and fee the fill settles."""

    lots: int
    cost: Fraction
    realized: BaseUnits
    fee: BaseUnits


def apply_fill_to_position(
    lots: int, cost: Fraction, side: Side, quantity: int, price_ticks: int, value_per_tick: Fraction,
    fee_rate: Fraction,
) -> FillEffect:
    """Return the position ``(lots, cost)`` after trading ``quantity`` lots on ``side``."""
    d = side.sign
    trade_value = price_ticks * value_per_tick
    fee = BaseUnits(math.ceil(quantity * trade_value * fee_rate))
    realized = Fraction(0)
    closing = 0 if lots * d >= 0 else min(quantity, abs(lots))
    if closing:
        average = cost / lots
        realized = closing * (trade_value - average) * (1 if lots > 0 else -1)
        lots += d * closing
        cost = average * lots
    opening = quantity - closing
    lots += d * opening
    cost += d * opening * trade_value
    return FillEffect(lots, cost, BaseUnits(math.floor(realized)), fee)


def average_entry_ticks(lots: int, cost: Fraction, value_per_tick: Fraction) -> Fraction | None:
    """Return the exact average entry price in ticks, or None when flat."""
    return None if lots == 0 else cost / lots / value_per_tick

