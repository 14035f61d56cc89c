"""Liquidation: accounts under maintenance get reduce-only orders until healthy; risk only falls."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Lots, Order, OrderId, Side, Ticks
from darkpool.margin import LiquidationOrder, MarginConfig, MarginEngine

from .helpers import INSTRUMENTS, T0, addr, engine, mark_ticks, trade

A = addr(5)
SYMBOLS = [i.symbol for i in INSTRUMENTS]


def leveraged(holdings: dict[str, int], deposit: int, config: MarginConfig | None = None) -> MarginEngine:
    e = engine(config)
    e.deposit(A, deposit)
    e.apply_fills(
        [
            trade(A, s, Side.BUY if q > 0 else Side.SELL, Lots(abs(q)), Ticks(mark_ticks(e, s)))
            for s, q in holdings.items()
            if q
        ],
        T0,
    )
    return e


def fill_all(e: MarginEngine, orders: list[LiquidationOrder], now: int) -> None:
    e.apply_fills(
        [trade(o.account, o.instrument, o.side, o.quantity_lots, o.limit_ticks) for o in orders], now
    )


def run_until_healthy(e: MarginEngine, now: int, rounds: int = 8) -> list[int]:
    """Fill every liquidation order at its limit each round; return initial margin per round."""
    initial: list[int] = [e.account_margin(A, now).initial_margin]
    for _ in range(rounds):
        orders = e.liquidation_orders(now)
        if not orders:
            break
        lots = {p.instrument: p.lots for p in e.positions(A)}
        for o in orders:
            assert o.reduce_only and o.account == A
            assert 0 < o.quantity_lots <= abs(lots[o.instrument])
            assert o.side is (Side.SELL if lots[o.instrument] > 0 else Side.BUY)
        fill_all(e, orders, now)
        initial.append(e.account_margin(A, now).initial_margin)
    return initial


def test_liquidation_when_healthy_then_no_orders_and_empty_queue() -> None:
    e = leveraged({"ETH-PERP": 100}, 10**9)
    assert e.liquidation_orders(T0) == [] and e.liquidation_queue == ()


def test_liquidation_when_price_falls_under_maintenance_then_queued_and_reduced_until_healthy() -> None:
    e = leveraged({"ETH-PERP": 400, "ETH-30D-3000-P": -100}, 230 * 10**6)
    later = T0 + 1
    e.set_mark("ETH", 2850.0, later)
    report = e.account_margin(A, later)
    assert report.under_maintenance and report.margin_ratio > 1
    orders = e.liquidation_orders(later)
    assert e.liquidation_queue == (A,)
    assert {o.instrument for o in orders} == {"ETH-PERP", "ETH-30D-3000-P"}
    # Sells go through the mark by the slippage, buys above it.
    perp_order = next(o for o in orders if o.instrument == "ETH-PERP")
    assert perp_order.side is Side.SELL and perp_order.limit_ticks == 279_300
    assert perp_order.to_order(OrderId("liq-1"), 9) == Order(
        OrderId("liq-1"), Side.SELL, Ticks(279_300), perp_order.quantity_lots, 9
    )
    fill_all(e, orders, later)
    assert run_until_healthy(e, later)[-1] < report.initial_margin
    assert not e.account_margin(A, later).under_maintenance
    assert e.liquidation_orders(later) == []
    assert not e.liquidation_queue


def test_apply_fills_when_account_drops_under_maintenance_then_enters_queue() -> None:
    e = leveraged({"ETH-PERP": 100}, 60 * 10**6)
    e.set_mark("ETH", 2600.0, T0 + 1)
    e.apply_fills([trade(A, "ETH-F90", Side.BUY, Lots(1), Ticks(260_000))], T0 + 1)
    assert e.liquidation_queue == (A,)


def test_liquidation_when_bankrupt_then_closes_everything_and_leaves_queue() -> None:
    e = leveraged({"ETH-PERP": 100}, 10 * 10**6)
    e.set_mark("ETH", 2000.0, T0 + 1)
    orders = e.liquidation_orders(T0 + 1)
    assert [(o.side, o.quantity_lots) for o in orders] == [(Side.SELL, 100)]
    fill_all(e, orders, T0 + 1)
    assert e.positions(A) == [] and e.liquidation_orders(T0 + 1) == [] and e.liquidation_queue == ()


@settings(max_examples=30, deadline=None)
@given(
    held=st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-300, 300), min_size=1, max_size=5),
    deposit=st.integers(1, 2 * 10**8),
    shock=st.floats(-0.2, 0.2),
    step=st.sampled_from([0.1, 0.25, 0.5]),
)
def test_liquidation_when_any_portfolio_shocked_then_initial_margin_never_rises(
    held: dict[str, int], deposit: int, shock: float, step: float
) -> None:
    e = leveraged(held, deposit, MarginConfig(liquidation_step=step))
    later = T0 + 1
    e.set_mark("ETH", 3000.0 * (1 + shock), later)
    initial = run_until_healthy(e, later, rounds=10)
    assert all(after <= before for before, after in itertools.pairwise(initial))
    assert e.liquidation_orders(later) == []
