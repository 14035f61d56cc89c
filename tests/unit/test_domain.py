"""Domain value types validate themselves with specific errors."""

from __future__ import annotations

import dataclasses

import pytest

from darkpool.domain import (
    Instrument,
    InstrumentKind,
    Lots,
    OptionRight,
    Order,
    OrderId,
    Round,
    Side,
    Ticks,
    account,
)
from darkpool.errors import DarkPoolError, ValidationError


def test_order_when_quantity_not_positive_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="quantity_lots must be at least 1"):
        Order(OrderId("a"), Side.BUY, Ticks(1), Lots(0), 1)


def test_order_when_constructed_is_frozen() -> None:
    order = Order(OrderId("a"), Side.BUY, Ticks(1), Lots(1), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.quantity_lots = Lots(2)  # type: ignore[misc]


def test_round_when_levels_below_one_raises() -> None:
    with pytest.raises(ValidationError, match="levels must be at least 1"):
        Round("X", Ticks(1), Ticks(1), 0)


def test_round_band_offset_when_limit_outside_band_clamps_to_minus_one_and_levels() -> None:
    round_ = Round("X", Ticks(100), Ticks(100), 4)
    assert [round_.band_offset(p) for p in (1, 99, 100, 103, 104, 999)] == [-1, -1, 0, 3, 4, 4]


def test_instrument_when_option_without_strike_raises() -> None:
    with pytest.raises(ValidationError, match="strike_ticks"):
        Instrument("ETH-C", InstrumentKind.OPTION, "ETH", 0.01, 1.0, expiry=10, right=OptionRight.CALL)


def test_instrument_when_perpetual_has_expiry_raises() -> None:
    with pytest.raises(ValidationError, match="perpetual has no expiry"):
        Instrument("ETH-PERP", InstrumentKind.PERPETUAL, "ETH", 0.01, 1.0, expiry=10)


def test_account_when_not_address_raises_and_is_value_error() -> None:
    with pytest.raises(ValueError, match="20-byte hex address"):
        account("0x1234")
    assert account("0x" + "AB" * 20) == "0x" + "ab" * 20


def test_errors_when_raised_share_the_darkpool_root() -> None:
    assert issubclass(ValidationError, DarkPoolError) and issubclass(ValidationError, ValueError)


def test_side_parse_when_unknown_raises() -> None:
    assert Side.parse("sell") is Side.SELL
    with pytest.raises(ValidationError, match="'buy' or 'sell'"):
        Side.parse("BUY")
