"""Continuous margin: a new mark recomputes the accounts exposed to its underlying and queues those under
maintenance at once; the table it leaves equals a full recompute exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Side
from darkpool.margin import MarginEngine
from tests.margin.helpers import BTC_SPOT, SPOT, T0, addr, engine, trade

ETH_BOOK = ("ETH-PERP", "ETH-30D-3000-C", "ETH-30D-3000-P")
BTC_BOOK = ("BTC-PERP", "BTC-30D-60000-C")
TICKS = {"ETH-PERP": 300_000, "ETH-30D-3000-C": 16_000, "ETH-30D-3000-P": 14_000, "BTC-PERP": 600_000,
         "BTC-30D-60000-C": 60_000}


def _book(holdings: list[tuple[int, str, int]], accounts: int = 24, deposit: int = 10**10) -> MarginEngine:
    """An engine where account ``n`` holds ``lots`` of ``symbol`` for each ``(n, symbol, lots)`` (a house
    account takes every other side), each with ``deposit`` base units."""
    e = engine()
    house = addr(999)
    e.deposit(house, 10**15)
    for n in range(accounts):
        e.deposit(addr(n), deposit)
    fills = []
    for n, symbol, lots in holdings:
        side = Side.BUY if lots > 0 else Side.SELL
        fills += [trade(addr(n), symbol, side, abs(lots), TICKS[symbol]),
                  trade(house, symbol, Side.SELL if side is Side.BUY else Side.BUY, abs(lots), TICKS[symbol])]
    e.apply_fills(fills, T0)
    e.margin_table(T0)
    return e


def _table(e: MarginEngine) -> tuple[list[float], ...]:
    t = e.margin_table(T0)
    return tuple(getattr(t, name).tolist() for name in ("equity", "initial", "maintenance", "worst_loss"))


@settings(max_examples=40, deadline=None)
@given(holdings=st.lists(st.tuples(st.integers(0, 23), st.sampled_from(ETH_BOOK + BTC_BOOK),
                                   st.integers(-50, 50).filter(bool)), max_size=30),
       underlying=st.sampled_from(["ETH", "BTC"]), move=st.floats(-0.2, 0.2))
def test_mark_when_moved_at_the_same_second_then_only_exposed_rows_recompute_and_equal_a_full_recompute(
    holdings: list[tuple[int, str, int]], underlying: str, move: float,
) -> None:
    e = _book(holdings)
    e.set_mark(underlying, (SPOT if underlying == "ETH" else BTC_SPOT) * (1 + move), T0)
    e.risk(T0)
    exposed = set(e.exposed_rows([underlying]).tolist())
    assert e._dirty == exposed
    incremental = _table(e)
    e.recompute_all(T0)
    assert incremental == _table(e)


def test_mark_when_time_moved_then_every_account_recomputes() -> None:
    e = _book([(0, "ETH-PERP", 3), (1, "BTC-PERP", 2)])
    e.set_mark("BTC", BTC_SPOT, T0 + 1)
    e.risk(T0 + 1)
    assert e._table is None  # options decayed: nobody's margin is the same


def test_mark_when_account_falls_under_maintenance_then_queued_at_once_and_others_untouched() -> None:
    holdings = [(0, "BTC-PERP", 40), (1, "ETH-PERP", 40), *[(n, "ETH-PERP", 1) for n in range(2, 24)]]
    e = _book(holdings, deposit=3 * 10**7)
    assert e.refresh_queue(T0) == ()
    before = _table(e)
    e.set_mark("BTC", BTC_SPOT * 0.85, T0)
    assert e.refresh_queue(T0) == (addr(0),)
    after = _table(e)
    untouched = [row for row in range(len(before[0])) if row != e._book.row(addr(0))
                 and e._book.row(addr(999)) != row]
    assert all(np.array_equal([col[r] for r in untouched], [b[r] for r in untouched])
               for col, b in zip(after, before, strict=True))
