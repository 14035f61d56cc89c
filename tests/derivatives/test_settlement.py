"""Cash settlement at expiry in the margin engine: the settlement price from the mark at expiry (futures at it,
options at intrinsic), and closing exactly what the same fills through the trade path would."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Side
from darkpool.errors import MarginError
from darkpool.margin import MarginConfig, settlement_ticks
from tests.margin.helpers import DAY, INSTRUMENTS, T0, addr, engine, trade

BY_SYMBOL = {i.symbol: i for i in INSTRUMENTS}
DATED = ["ETH-F90", "ETH-30D-3000-C", "ETH-30D-3000-P", "ETH-30D-3600-C", "ETH-30D-2400-P"]


@pytest.mark.parametrize(("symbol", "mark", "ticks"), [
    ("ETH-F90", 3123.456, 312_346),  # a future: the mark in ticks
    ("ETH-30D-3000-C", 3300.0, 30_000),  # a call in the money: the mark over the strike
    ("ETH-30D-3000-C", 2900.0, 0),  # out of the money: worthless
    ("ETH-30D-3000-P", 2750.004, 25_000),  # a put: the strike over the mark
    ("ETH-30D-3000-P", 3000.001, 0),
])
def test_settlement_ticks_when_expired_then_future_at_mark_and_option_at_intrinsic(
    symbol: str, mark: float, ticks: int,
) -> None:
    assert settlement_ticks(BY_SYMBOL[symbol], mark) == ticks


@pytest.mark.parametrize("mark", [0.0, -1.0, float("nan"), float("inf"), True])
def test_settlement_ticks_when_mark_not_a_positive_price_then_refused(mark: float) -> None:
    with pytest.raises(MarginError, match="positive finite"):
        settlement_ticks(BY_SYMBOL["ETH-F90"], mark)


def test_settle_expired_when_not_expired_yet_then_refused_before_anything_moves() -> None:
    e = engine()
    e.deposit(addr(1), 10**9)
    e.apply_fills([trade(addr(1), "ETH-F90", Side.BUY, 2, 300_000)], T0)
    with pytest.raises(MarginError, match="has not expired"):
        e.settle_expired(T0 + 30 * DAY, {"ETH-30D-3000-C": 3000.0, "ETH-F90": 3000.0})
    assert [p.lots for p in e.positions(addr(1))] == [2]


@settings(max_examples=40, deadline=None)
@given(trades=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from(DATED),
                                 st.integers(1, 30), st.integers(-3_000, 3_000)), min_size=1, max_size=10),
       mark=st.floats(2000.0, 4000.0), fee=st.sampled_from([0.0, 0.0003, 0.001]))
def test_settle_expired_when_any_book_then_equal_to_closing_fills_through_the_trade_path(
    trades: list[tuple[int, int, str, int, int]], mark: float, fee: float,
) -> None:
    e = engine(MarginConfig(fee_rate=fee))  # fees make the cost basis fractional
    accounts = [addr(n) for n in range(1, 5)]
    for who in accounts:
        e.deposit(who, 10**11)
    fills = []
    for buyer, seller, symbol, lots, offset in trades:
        if buyer != seller:
            price = (300_000 if symbol == "ETH-F90" else 15_000) + offset
            fills += [trade(accounts[buyer - 1], symbol, Side.BUY, lots, price),
                      trade(accounts[seller - 1], symbol, Side.SELL, lots, price)]
    e.apply_fills(fills, T0)
    expiry = T0 + 90 * DAY
    e.set_mark("ETH", mark, expiry)
    e.set_mark("BTC", 60_000.0, expiry)
    through_trades = copy.deepcopy(e)
    settled = e.settle_expired(expiry, dict.fromkeys(DATED, mark))
    through_trades.apply_fills(settled, expiry, fee_rate=0.0)
    assert [e.balances(w) for w in accounts] == [through_trades.balances(w) for w in accounts]
    assert all(not e.positions(w) for w in accounts)
    assert sum(f.quantity_lots for f in settled if f.side is Side.BUY) == sum(
        f.quantity_lots for f in settled if f.side is Side.SELL)
    assert {f.price_ticks for f in settled if f.instrument == "ETH-F90"} <= {settlement_ticks(BY_SYMBOL["ETH-F90"],
                                                                                              mark)}
