"""Margin snapshots: an engine rebuilt from one gives every cap and margin the original gives."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darkpool.domain import Lots, Side, Ticks
from darkpool.margin import engine_from_snapshot, margin_snapshot

from .helpers import INSTRUMENTS, T0, addr, engine, mark_ticks, trade

SYMBOLS = [i.symbol for i in INSTRUMENTS]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deposits=st.lists(st.integers(1, 10**11), min_size=2, max_size=2),
    trades=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(-40, 40), st.integers(-30, 30)), max_size=6),
)
def test_engine_from_snapshot_when_rebuilt_then_caps_and_margin_equal_the_original(
    deposits: list[int], trades: list[tuple[str, int, int]]
) -> None:
    original = engine()
    a, b = addr(1), addr(2)
    original.deposit(a, deposits[0])
    original.deposit(b, deposits[1])
    fills = []
    for symbol, lots, offset in trades:
        if lots:
            price = Ticks(max(1, mark_ticks(original, symbol) + offset))
            side = Side.BUY if lots > 0 else Side.SELL
            fills += [trade(a, symbol, side, Lots(abs(lots)), price), trade(b, symbol, Side(1 - side), Lots(abs(lots)),
                                                                              price)]
    original.apply_fills(fills, T0)
    snapshot = json.loads(json.dumps(margin_snapshot(original, [a, b], T0)))  # through JSON, as journaled
    rebuilt = engine_from_snapshot(snapshot)
    for who in (a, b):
        assert rebuilt.cash(who) == original.cash(who)
        assert rebuilt.positions(who) == original.positions(who)
        assert rebuilt.account_margin(who, T0) == original.account_margin(who, T0)
        for symbol in SYMBOLS[:3]:
            for side in Side:
                price = mark_ticks(original, symbol)
                assert rebuilt.cap(who, symbol, side, price, T0, max_lots=500) == original.cap(
                    who, symbol, side, price, T0, max_lots=500)
