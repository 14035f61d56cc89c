"""The exact bookkeeping of one position under a fill: average entry, realized PnL, fees.

Cost basis is kept as an exact :class:`~fractions.Fraction` of base units, so average entry
never drifts. Realized PnL settles as an integer rounded down and fees as an integer rounded
up: both against the account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from darkpool.domain import BaseUnits, Instrument, Side
from darkpool.errors import MarginError

__all__ = [
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
    if (not fee_rate and value_per_tick.denominator == 1 and cost.denominator == 1
            and (lots == 0 or (lots > 0) == (d > 0))):
        # Opening on integer tick values without a fee: exact in integers, no Fraction arithmetic.
        return FillEffect(lots + d * quantity, Fraction(cost.numerator + d * quantity * price_ticks
                                                        * value_per_tick.numerator), BaseUnits(0), BaseUnits(0))
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

