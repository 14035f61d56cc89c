"""Domain value types: units, instruments, accounts, orders, rounds and fills.

Prices are integer ticks and sizes integer lots; money is integer token base units. Every type
is frozen and validates itself on construction with a :class:`~darkpool.errors.ValidationError`
that says what was expected and what came.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

from darkpool.errors import ValidationError

__all__ = [
    "Account",
    "BaseUnits",
    "Fill",
    "Instrument",
    "InstrumentKind",
    "Lots",
    "MAX_LEVELS",
    "Order",
    "OrderId",
    "OptionRight",
    "Round",
    "RoundResult",
    "Side",
    "Ticks",
    "account",
]

Ticks = NewType("Ticks", int)
"""A price in integer ticks of an instrument."""
Lots = NewType("Lots", int)
"""A size in integer lots of an instrument."""
BaseUnits = NewType("BaseUnits", int)
"""An amount of the collateral token in its smallest unit."""
OrderId = NewType("OrderId", str)
Account = NewType("Account", str)
"""A checksummed-or-lowercase 0x Ethereum address, normalised to lowercase."""

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

MAX_LEVELS = 4096
"""The most price levels a round's band may have: every engine allocates per level (the FHE
circuits compile up to 16), so an unbounded count is a memory attack, not a market."""


def account(address: str) -> Account:
    """Return ``address`` as an :data:`Account` (lowercase), or raise if it is not an address."""
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise ValidationError(f"expected a 0x-prefixed 20-byte hex address, got {address!r}")
    return Account(address.lower())


def _require_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}, got {value}")
    return value


class Side(enum.IntEnum):
    """Order side; the integer value is the one signed in EIP-712 messages."""

    BUY = 0
    SELL = 1

    @classmethod
    def parse(cls, text: object) -> Side:
        """Parse ``"buy"``/``"sell"``."""
        if text == "buy":
            return cls.BUY
        if text == "sell":
            return cls.SELL
        raise ValidationError(f"side must be 'buy' or 'sell', got {text!r}")

    @property
    def label(self) -> str:
        return "buy" if self is Side.BUY else "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign of the position change."""
        return 1 if self is Side.BUY else -1


class InstrumentKind(enum.Enum):
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"


class OptionRight(enum.Enum):
    CALL = "call"
    PUT = "put"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable contract on an underlying, settled in the one collateral token.

    ``tick_size`` and ``lot_size`` convert ticks and lots to the underlying's quote units and
    contract units; ``multiplier`` scales one lot's PnL. ``expiry`` is a POSIX timestamp in
    seconds (futures and options); ``strike_ticks`` and ``right`` are for options only.
    """

    symbol: str
    kind: InstrumentKind
    underlying: str
    tick_size: float
    lot_size: float
    multiplier: float = 1.0
    expiry: int | None = None
    strike_ticks: Ticks | None = None
    right: OptionRight | None = None

    def __post_init__(self) -> None:
        if not self.symbol or not isinstance(self.symbol, str):
            raise ValidationError(f"instrument symbol must be a non-empty string, got {self.symbol!r}")
        if not self.underlying:
            raise ValidationError(f"{self.symbol}: underlying must be a non-empty string")
        for name in ("tick_size", "lot_size", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValidationError(f"{self.symbol}: {name} must be a positive number, got {value!r}")
        if self.kind is InstrumentKind.PERPETUAL:
            if self.expiry is not None or self.strike_ticks is not None or self.right is not None:
                raise ValidationError(f"{self.symbol}: a perpetual has no expiry, strike or right")
        elif self.kind is InstrumentKind.FUTURE:
            _require_int(f"{self.symbol}: expiry", self.expiry, minimum=1)
            if self.strike_ticks is not None or self.right is not None:
                raise ValidationError(f"{self.symbol}: a future has no strike or right")
        else:
            _require_int(f"{self.symbol}: expiry", self.expiry, minimum=1)
            _require_int(f"{self.symbol}: strike_ticks", self.strike_ticks, minimum=1)
            if not isinstance(self.right, OptionRight):
                raise ValidationError(f"{self.symbol}: an option needs right call or put, got {self.right!r}")

    @property
    def is_option(self) -> bool:
        return self.kind is InstrumentKind.OPTION

    def price(self, ticks: int) -> float:
        """Convert ticks to a price in quote units."""
        return ticks * self.tick_size

    def to_ticks(self, price: float) -> Ticks:
        """Convert a quote-unit price to the nearest tick."""
        return Ticks(round(price / self.tick_size))

    @property
    def contract_size(self) -> float:
        """Underlying units per lot, multiplier included."""
        return self.lot_size * self.multiplier


@dataclass(frozen=True, slots=True)
class Order:
    """One good-for-round limit order in the clear (the reference engine's view)."""

    id: OrderId
    side: Side
    limit_ticks: Ticks
    quantity_lots: Lots
    priority: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValidationError(f"order id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.side, Side):
            raise ValidationError(f"order {self.id}: side must be a Side, got {self.side!r}")
        _require_int(f"order {self.id}: limit_ticks", self.limit_ticks)
        _require_int(f"order {self.id}: quantity_lots", self.quantity_lots, minimum=1)
        _require_int(f"order {self.id}: priority", self.priority)


@dataclass(frozen=True, slots=True)
class Round:
    """A sealed uniform-price batch auction: level ``k`` is price ``band_low_ticks + k``."""

    instrument: str
    reference_ticks: Ticks
    band_low_ticks: Ticks
    levels: int

    def __post_init__(self) -> None:
        if not isinstance(self.instrument, str) or not self.instrument:
            raise ValidationError(f"round instrument must be a non-empty string, got {self.instrument!r}")
        _require_int("round reference_ticks", self.reference_ticks)
        _require_int("round band_low_ticks", self.band_low_ticks)
        _require_int("round levels", self.levels, minimum=1)
        if self.levels > MAX_LEVELS:
            raise ValidationError(f"round levels must be at most {MAX_LEVELS}, got {self.levels}")

    @property
    def band_high_ticks(self) -> Ticks:
        return Ticks(self.band_low_ticks + self.levels - 1)

    def price_at(self, level: int) -> Ticks:
        return Ticks(self.band_low_ticks + level)

    def band_offset(self, limit_ticks: int) -> int:
        """Limit as a band offset clamped to ``-1..levels``: the only form the FHE engine needs."""
        return max(-1, min(self.levels, limit_ticks - self.band_low_ticks))


_UINT64 = 2**64


@dataclass(frozen=True, slots=True)
class Fill:
    """One account's fill of one order: the only fill type from clearing to the settlement leaf.

    ``round_id`` is 0 for fills that no round made (cash settlement at expiry). ``account`` is
    normalised to lowercase.
    """

    round_id: int
    order_id: OrderId
    account: Account
    instrument: str
    side: Side
    quantity_lots: Lots
    price_ticks: Ticks

    def __post_init__(self) -> None:
        round_id = _require_int("fill round_id", self.round_id, minimum=0)
        if round_id >= _UINT64:
            raise ValidationError(f"fill round_id must be below 2**64, got {round_id}")
        if not isinstance(self.order_id, str) or not self.order_id:
            raise ValidationError(f"fill order_id must be a non-empty string, got {self.order_id!r}")
        object.__setattr__(self, "account", account(self.account))
        if not isinstance(self.instrument, str) or not self.instrument:
            raise ValidationError(f"fill {self.order_id}: instrument must be a non-empty string, "
                                  f"got {self.instrument!r}")
        if not isinstance(self.side, Side):
            raise ValidationError(f"fill {self.order_id}: side must be a Side, got {self.side!r}")
        _require_int(f"fill {self.order_id}: quantity_lots", self.quantity_lots, minimum=1)
        _require_int(f"fill {self.order_id}: price_ticks", self.price_ticks, minimum=0)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """The outcome of a round: the only values any engine reveals.

    ``fills`` maps every order id of the round, in input order, to its filled lots.
    """

    price_ticks: Ticks | None
    volume_lots: Lots
    fills: dict[OrderId, Lots] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "price_ticks": self.price_ticks,
            "volume_lots": self.volume_lots,
            "fills": dict(self.fills),
        }

    def fills_for(
        self, round_id: int, instrument: str, owners: Mapping[OrderId, tuple[Account, Side]]
    ) -> list[Fill]:
        """Return the non-zero fills of round ``round_id`` in result order, each with its owner and side.

        ``owners`` maps each filled order id to the account that placed it and its side.
        """
        if self.price_ticks is None:
            return []
        out: list[Fill] = []
        for order_id, lots in self.fills.items():
            if lots <= 0:
                continue
            owner = owners.get(order_id)
            if owner is None:
                raise ValidationError(f"round {round_id}: filled order {order_id!r} has no owner")
            holder, side = owner
            out.append(Fill(round_id, order_id, holder, instrument, side, lots, self.price_ticks))
        return out
