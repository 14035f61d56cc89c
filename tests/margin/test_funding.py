"""Perpetual funding: the clamped premium per lot, paid longs to shorts, exactly zero-sum."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Lots, Side, Ticks
from darkpool.errors import MarginError
from darkpool.margin import funding_rate

from .helpers import INSTRUMENTS, T0, addr, engine, perp, trade

PERP = perp()


def test_funding_rate_when_premium_beyond_cap_then_clamped_and_signed() -> None:
    above = funding_rate(PERP, 303_000, 3000.0, 0.0075, 10**6)  # traded 1% over the index
    assert above.rate == 0.0075 and above.per_lot == round(0.0075 * 3000.0 * 0.001 * 10**6)
    below = funding_rate(PERP, 299_700, 3000.0, 0.0075, 10**6)  # 0.1% under: shorts pay longs
    assert below.rate == pytest.approx(-0.001) and below.per_lot < 0
    with pytest.raises(MarginError):
        funding_rate(INSTRUMENTS[1], 300_000, 3000.0, 0.0075, 10**6)  # a dated future pays no funding


@settings(max_examples=40, deadline=None)
@given(trades=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 50)), min_size=1, max_size=8),
       per_lot=st.integers(-5_000, 5_000))
def test_pay_funding_when_any_positions_then_zero_sum_and_longs_pay_shorts(
    trades: list[tuple[int, int, int]], per_lot: int
) -> None:
    e = engine()
    accounts = {n: addr(n) for n in range(1, 7)}
    for who in accounts.values():
        e.deposit(who, 10**12)
    fills = []
    for buyer, seller, lots in trades:
        if buyer != seller:
            fills += [trade(accounts[buyer], PERP.symbol, Side.BUY, Lots(lots), Ticks(300_000)),
                      trade(accounts[seller], PERP.symbol, Side.SELL, Lots(lots), Ticks(300_000))]
    e.apply_fills(fills, T0)
    before = {n: e.cash(who) for n, who in accounts.items()}
    lots = {n: next((p.lots for p in e.positions(who) if p.instrument == PERP.symbol), 0)
            for n, who in accounts.items()}
    paid = e.pay_funding(PERP.symbol, per_lot)
    moved = {n: e.cash(who) - before[n] for n, who in accounts.items()}
    assert sum(moved.values()) == 0
    assert all(moved[n] == -lots[n] * per_lot for n in accounts)
    assert paid == sum(m for m in moved.values() if m > 0)
