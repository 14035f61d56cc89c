"""Pre-trade caps: exact for the engine's model (cap passes, cap + 1 fails)."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darkpool.domain import Lots, Side, Ticks
from darkpool.margin import CapRequest, MarginEngine
from darkpool.margin._caps import refine_cap

from .helpers import INSTRUMENTS, T0, addr, engine, mark_ticks, trade

A = addr(3)
SYMBOLS = [i.symbol for i in INSTRUMENTS]


def funded(deposit: int, holdings: dict[str, int]) -> MarginEngine:
    e = engine()
    if deposit:
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


def assert_exact_cap(
    e: MarginEngine, symbol: str, side: Side, limit: int, max_lots: int | None, fee: float = 0.0
) -> int:
    before = e.free_collateral_after(A, symbol, side, 0, limit, T0)
    threshold = min(0, before)
    cap = e.cap(A, symbol, side, limit, T0, max_lots=max_lots, fee_rate=fee)
    assert cap >= 0
    if cap > 0:
        assert e.free_collateral_after(A, symbol, side, cap, limit, T0, fee) >= threshold
    if max_lots is None or cap < max_lots:
        assert e.free_collateral_after(A, symbol, side, cap + 1, limit, T0, fee) < threshold
    # Smaller fills, and fills at a better clearing price than the limit, pass too.
    better = max(0, limit - side.sign * max(1, limit // 50))
    for q in {cap // 3, cap // 2, max(cap - 1, 0)}:
        assert q == 0 or e.free_collateral_after(A, symbol, side, q, limit, T0, fee) >= threshold
    assert cap == 0 or e.free_collateral_after(A, symbol, side, cap, better, T0, fee) >= threshold
    # Filling the cap for real lands where the check said it would.
    real = copy.deepcopy(e)
    if cap > 0:
        real.apply_fills([trade(A, symbol, side, cap, limit)], T0, fee_rate=fee)
    assert real.account_margin(A, T0).free_collateral >= threshold
    return cap


holdings = st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-400, 400), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deposit=st.integers(1, 10**9),
    held=holdings,
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from(list(Side)),
    offset=st.floats(-0.05, 0.05),
    max_lots=st.one_of(st.none(), st.integers(0, 255)),
    fee=st.sampled_from([0.0, 0.0003, 0.01]),
)
def test_cap_when_any_portfolio_and_order_then_cap_passes_and_one_more_lot_fails(
    deposit: int, held: dict[str, int], symbol: str, side: Side, offset: float, max_lots: int | None, fee: float
) -> None:
    e = funded(deposit, held)
    limit = max(0, round(mark_ticks(e, symbol) * (1 + offset)))
    assert_exact_cap(e, symbol, side, limit, max_lots, fee)


@settings(max_examples=25, deadline=None)
@given(deposit=st.integers(1, 10**9), extra=st.integers(1, 10**9), held=holdings,
       symbol=st.sampled_from(SYMBOLS), side=st.sampled_from(list(Side)))
def test_cap_when_more_collateral_deposited_then_cap_not_smaller(
    deposit: int, extra: int, held: dict[str, int], symbol: str, side: Side
) -> None:
    e = funded(deposit, held)
    limit = mark_ticks(e, symbol)
    before = e.cap(A, symbol, side, limit, T0)
    e.deposit(A, extra)
    assert e.cap(A, symbol, side, limit, T0) >= before


@given(boundary=st.integers(0, 10**6), guess=st.integers(-10, 2 * 10**6), upper=st.integers(0, 10**6))
def test_refine_cap_when_guess_is_anywhere_then_finds_the_boundary(boundary: int, guess: int, upper: int) -> None:
    assert refine_cap(lambda q: q <= boundary, guess, upper) == min(boundary, upper)


def test_cap_when_perp_buy_at_mark_then_matches_hand_computation() -> None:
    e = funded(1_000 * 10**6, {})
    # Per lot: worst loss 16% of 3 = 0.48, floor 0.5% of 3 = 0.015, one base unit of rounding cushion.
    cap = assert_exact_cap(e, "ETH-PERP", Side.BUY, 300_000, None)
    assert cap == 1000 * 10**6 // 495_001


def test_cap_when_max_lots_given_then_bounded_by_it() -> None:
    e = funded(10**12, {})
    assert e.cap(A, "ETH-PERP", Side.SELL, 300_000, T0, max_lots=255) == 255


def test_cap_when_unknown_account_then_zero_and_no_account_opened() -> None:
    e = engine()
    assert e.cap(addr(99), "ETH-30D-3000-C", Side.SELL, 12_000, T0) == 0
    assert e.accounts == ()


def test_cap_when_computed_then_state_unchanged() -> None:
    e = funded(10**8, {"ETH-30D-3000-C": -20})
    before = (e.positions(A), e.balances(A), e.account_margin(A, T0))
    e.cap(A, "ETH-PERP", Side.BUY, 300_000, T0)
    assert (e.positions(A), e.balances(A), e.account_margin(A, T0)) == before


def test_cap_when_account_under_water_then_reducing_allowed_and_increasing_refused() -> None:
    e = funded(60 * 10**6, {"ETH-PERP": 120})
    e.set_mark("ETH", 2700.0, T0)
    assert e.account_margin(A, T0).free_collateral < 0
    limit = 270_000
    assert e.cap(A, "ETH-PERP", Side.BUY, limit, T0) == 0
    reduce = assert_exact_cap(e, "ETH-PERP", Side.SELL, limit, None)
    assert reduce >= 100


def test_caps_when_batch_then_equal_single_caps() -> None:
    e = funded(50 * 10**6, {"ETH-30D-3000-C": -20, "ETH-PERP": 10})
    requests = [
        CapRequest(A, "ETH-PERP", Side.BUY, Ticks(300_100)),
        CapRequest(A, "ETH-30D-3000-P", Side.SELL, Ticks(mark_ticks(e, "ETH-30D-3000-P"))),
        CapRequest(A, "ETH-90D-3000-C", Side.BUY, Ticks(mark_ticks(e, "ETH-90D-3000-C")), Lots(7)),
        CapRequest(addr(4), "ETH-F90", Side.SELL, Ticks(300_000)),
    ]
    caps = e.caps(requests, T0, max_lots=255)
    assert caps == [
        e.cap(r.account, r.instrument, r.side, r.limit_ticks, T0, r.max_lots or 255) for r in requests
    ]
    assert caps[2] <= 7 and caps[3] == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deposit=st.integers(1, 10**10),
    held=holdings,
    orders=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(list(Side)), st.floats(-0.05, 0.05),
                              st.integers(1, 255)), min_size=1, max_size=8),
)
def test_caps_when_batch_fast_path_then_equal_single_exact_caps(
    deposit: int, held: dict[str, int], orders: list[tuple[str, Side, float, int]]
) -> None:
    e = funded(deposit, held)
    requests = [CapRequest(A, s, side, Ticks(max(0, round(mark_ticks(e, s) * (1 + off)))), Lots(q))
                for s, side, off, q in orders]
    assert e.caps(requests, T0) == [e.cap(A, r.instrument, r.side, r.limit_ticks, T0, r.max_lots) for r in requests]
