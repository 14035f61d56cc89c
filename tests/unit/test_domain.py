"""Domain value types validate themselves with specific errors."""

from __future__ import annotations

import dataclasses

import pytest

from darkpool.domain import (
    MAX_LEVELS,
    Account,
    Fill,
    Instrument,
    InstrumentKind,
    Lots,
    OptionRight,
    Order,
    OrderId,
    Round,
    RoundResult,
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


ALICE, BOB = Account("0x" + "a1" * 20), Account("0x" + "b0" * 20)


def _fill(**changes: object) -> Fill:
    fields: dict[str, object] = {"round_id": 3, "order_id": OrderId("a:1"), "account": ALICE,
                                 "instrument": "ETH-PERP", "side": Side.BUY, "quantity_lots": Lots(4),
                                 "price_ticks": Ticks(300_000)}
    fields.update(changes)
    return Fill(**fields)  # type: ignore[arg-type]


def test_fill_when_account_checksummed_then_normalised_to_lowercase() -> None:
    assert _fill(account="0x" + "A1" * 20).account == ALICE


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"round_id": -1}, "round_id"),
        ({"round_id": 2**64}, "round_id"),
        ({"round_id": True}, "round_id"),
        ({"order_id": ""}, "order_id"),
        ({"account": "0x12"}, "address"),
        ({"instrument": ""}, "instrument"),
        ({"side": 0}, "side"),
        ({"quantity_lots": 0}, "quantity_lots"),
        ({"quantity_lots": True}, "quantity_lots"),
        ({"price_ticks": -1}, "price_ticks"),
        ({"price_ticks": 1.0}, "price_ticks"),
    ],
)
def test_fill_when_field_malformed_raises_naming_field_and_value(changes: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named) as caught:
        _fill(**changes)
    assert repr(next(iter(changes.values()))) in str(caught.value) or str(next(iter(changes.values()))) in str(
        caught.value
    )


def test_fill_when_expiry_settlement_then_round_zero_and_free_price_zero_allowed() -> None:
    fill = _fill(round_id=0, order_id=OrderId(f"expiry:ETH-F90:{ALICE}"), price_ticks=Ticks(0))
    assert fill.round_id == 0 and fill.price_ticks == 0


def test_fills_for_when_round_cleared_then_non_zero_fills_in_result_order_with_owners() -> None:
    result = RoundResult(Ticks(300_010), Lots(5), {OrderId("b"): Lots(5), OrderId("x"): Lots(0), OrderId("a"): Lots(5)})
    owners = {OrderId("a"): (ALICE, Side.BUY), OrderId("b"): (BOB, Side.SELL), OrderId("x"): (BOB, Side.BUY)}
    assert result.fills_for(7, "ETH-PERP", owners) == [
        Fill(7, OrderId("b"), BOB, "ETH-PERP", Side.SELL, Lots(5), Ticks(300_010)),
        Fill(7, OrderId("a"), ALICE, "ETH-PERP", Side.BUY, Lots(5), Ticks(300_010)),
    ]


def test_fills_for_when_no_price_then_no_fills() -> None:
    assert RoundResult(None, Lots(0), {OrderId("a"): Lots(0)}).fills_for(1, "ETH-PERP", {}) == []


def test_fills_for_when_filled_order_has_no_owner_raises_naming_it() -> None:
    result = RoundResult(Ticks(1), Lots(1), {OrderId("ghost"): Lots(1)})
    with pytest.raises(ValidationError, match="ghost"):
        result.fills_for(1, "ETH-PERP", {})


@pytest.mark.attack
@pytest.mark.parametrize("levels", [MAX_LEVELS + 1, 10**9, 2**70])
def test_round_when_levels_beyond_limit_then_refused_before_any_allocation(levels: int) -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_LEVELS}"):
        Round("ETH-PERP", Ticks(300_000), Ticks(299_996), levels)
