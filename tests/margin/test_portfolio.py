"""Portfolio margin: hedges and spreads offset, margin is never negative, vector == loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from darkpool.domain import Lots, Side, Ticks
from darkpool.margin import MarginConfig, MarginEngine, portfolio_margin, portfolio_margin_loop
from darkpool.margin._black_scholes import FloatArray

from .helpers import INSTRUMENTS, SCALE, T0, addr, engine, mark_ticks, trade

N = len(INSTRUMENTS)
positions = hnp.arrays(np.float64, (5, N), elements=st.integers(-500, 500).map(float))


def initial_margin(holdings: dict[str, int], e: MarginEngine | None = None) -> int:
    """Return the initial margin of an account holding ``holdings`` (symbol -> signed lots)."""
    e = e or engine()
    a = addr(1)
    e.deposit(a, 10**12)
    e.apply_fills(
        [
            trade(a, sym, Side.BUY if lots > 0 else Side.SELL, Lots(abs(lots)), Ticks(mark_ticks(e, sym)))
            for sym, lots in holdings.items()
        ],
        T0,
    )
    return e.account_margin(a, T0).initial_margin


def _hedge_lots(option_lots: int) -> int:
    delta_per_lot = engine().risk(T0).greeks[2, 0] / 0.001  # one option lot's delta in perp lots
    return -round(option_lots * float(delta_per_lot))


def test_margin_when_short_call_delta_hedged_then_less_than_legs_alone() -> None:
    call = "ETH-30D-3000-C"
    hedge = _hedge_lots(-100)
    hedged = initial_margin({call: -100, "ETH-PERP": hedge})
    naked = initial_margin({call: -100})
    perp_alone = initial_margin({"ETH-PERP": hedge})
    assert 40 <= hedge <= 60
    # Short gamma still loses on +-16% moves, so the hedge beats the naked short and the sum of legs.
    assert hedged < naked
    assert hedged < naked + perp_alone


def test_margin_when_long_call_delta_hedged_then_less_than_each_leg_alone() -> None:
    call = "ETH-30D-3000-C"
    hedge = _hedge_lots(100)
    hedged = initial_margin({call: 100, "ETH-PERP": hedge})
    assert hedged < initial_margin({call: 100})
    assert hedged < initial_margin({"ETH-PERP": hedge})


def test_margin_when_calendar_spread_then_less_than_naked_short_leg() -> None:
    spread = initial_margin({"ETH-30D-3000-C": -50, "ETH-90D-3000-C": 50})
    naked = initial_margin({"ETH-30D-3000-C": -50})
    assert spread < naked


def test_margin_when_perp_and_future_offset_then_less_than_either_leg() -> None:
    both = initial_margin({"ETH-PERP": 100, "ETH-F90": -100})
    assert both < initial_margin({"ETH-PERP": 100})
    # The floor per lot still charges both legs.
    assert both >= 200 * 0.005 * 3000 * 0.001 * SCALE


def test_margin_when_long_one_underlying_short_another_then_no_offset() -> None:
    # 200 ETH lots (0.2 ETH, 600 quote units) against 100 BTC lots (0.01 BTC, 600 quote units).
    pair = initial_margin({"ETH-PERP": 200, "BTC-PERP": -100})
    assert pair == initial_margin({"ETH-PERP": 200}) + initial_margin({"BTC-PERP": -100})
    e = engine()
    initial_margin({"ETH-PERP": 200, "BTC-PERP": -100}, e)
    assert e.account_margin(addr(1), T0).worst_underlying in {"ETH", "BTC"}


def test_margin_when_naked_short_far_otm_call_then_extended_scenario_binds() -> None:
    e = engine()
    initial_margin({"ETH-30D-3600-C": -100}, e)
    report = e.account_margin(addr(1), T0)
    assert report.worst_scenario.extended and report.worst_scenario.move == 5.0


def test_margin_when_long_option_then_worst_loss_at_most_its_value() -> None:
    e = engine()
    initial_margin({"ETH-30D-3600-C": 100}, e)
    report = e.account_margin(addr(1), T0)
    value = 100 * float(e.risk(T0).mark_value[5])
    assert 0 < report.worst_loss <= value
    assert not report.worst_scenario.extended


def test_margin_when_maintenance_fraction_configured_then_maintenance_is_that_fraction_rounded_up() -> None:
    e = engine(MarginConfig(maintenance_fraction=0.6))
    initial_margin({"ETH-30D-3000-P": -7}, e)
    report = e.account_margin(addr(1), T0)
    assert report.maintenance_margin == -(-report.initial_margin * 6 // 10)


@settings(max_examples=40, deadline=None)
@given(positions, st.floats(500.0, 20_000.0))
def test_margin_when_any_positions_and_mark_then_never_negative_and_maintenance_below_initial(
    lots: FloatArray, spot: float
) -> None:
    risk = engine(spot=spot).risk(T0)
    m = portfolio_margin(lots, np.zeros_like(lots), np.zeros(len(lots)), risk, 0.75)
    assert np.all(m.initial >= 0) and np.all(m.worst_loss >= 0)
    assert np.all(m.maintenance >= 0) and np.all(m.maintenance <= m.initial)
    assert np.all(m.initial == np.round(m.initial))


@settings(max_examples=40, deadline=None)
@given(positions, hnp.arrays(np.float64, (5, N), elements=st.floats(-1e9, 1e9)),
       hnp.arrays(np.float64, 5, elements=st.integers(0, 10**12).map(float)))
def test_margin_when_vectorized_then_equals_python_loop_exactly(
    lots: FloatArray, cost: FloatArray, balance: FloatArray
) -> None:
    risk = engine().risk(T0)
    m = portfolio_margin(lots, cost, balance, risk, 0.75)
    loop = portfolio_margin_loop(lots.tolist(), cost.tolist(), balance.tolist(), risk, 0.75)
    assert list(zip(m.equity.tolist(), m.initial.tolist(), m.maintenance.tolist(), strict=True)) == loop


def test_margin_when_flat_then_zero_and_equity_is_deposit() -> None:
    e = engine()
    e.deposit(addr(2), 123)
    report = e.account_margin(addr(2), T0)
    assert (report.equity, report.initial_margin, report.maintenance_margin) == (123, 0, 0)
    assert report.margin_ratio == 0.0 and report.free_collateral == 123
    assert report.to_json_dict()["free_collateral"] == 123
