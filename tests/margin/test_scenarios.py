"""The scenario grid and per-lot scenario PnL."""

from __future__ import annotations

import numpy as np

from darkpool.domain import Fill, Lots, OrderId, Side, Ticks
from darkpool.margin import Greeks, MarginConfig, scenarios

from .helpers import T0, addr, engine, trade


def test_scenarios_when_default_then_core_grid_then_extended_with_vol_up() -> None:
    grid = scenarios(MarginConfig())
    assert [(s.move, s.vol_shift) for s in grid[:3]] == [(-0.16, -1), (-0.16, 0), (-0.16, 1)]
    assert all(s.extended and s.vol_shift == 1 for s in grid[27:])
    assert [s.move for s in grid[27:]] == [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_pnl_when_perpetual_then_linear_in_move_and_blind_to_vol() -> None:
    risk = engine().risk(T0)
    per_lot = risk.core_pnl[0].reshape(9, 3)
    # One lot is 0.001 ETH at 3000: 3 quote units, 3_000_000 base units; floats round down by < 1.
    expected = np.array([3_000_000 * m for m in MarginConfig().core_moves])
    assert np.all((per_lot[:, 0] <= expected + 1e-6) & (per_lot[:, 0] >= expected - 1))
    assert np.all(per_lot[:, 0] == per_lot[:, 2])
    assert np.all(risk.extended_pnl[0] == 0)


def test_pnl_when_option_then_vol_up_helps_longs_and_shorter_expiry_shocks_vol_more() -> None:
    config = MarginConfig()
    risk = engine().risk(T0)
    at_zero_move = risk.core_pnl[:, 12:15]  # move 0: vol down, same, up
    call_30d, call_90d = at_zero_move[2], at_zero_move[4]
    assert call_30d[0] < 0 == call_30d[1] < call_30d[2]
    # Vega grows with expiry, yet the 30-day shock is larger relative to the 90-day one.
    vega_30d, vega_90d = risk.greeks[2, 2], risk.greeks[4, 2]
    assert call_30d[2] / vega_30d > call_90d[2] / vega_90d
    assert config.vol_up * (30 / 30) ** config.vol_scaling_power == config.vol_up


def test_floor_when_built_then_fraction_of_notional_plus_rounding_cushion() -> None:
    risk = engine().risk(T0)
    # 0.5% of one lot's notional (3 quote units for ETH, 6 for BTC) plus one base unit.
    assert risk.floor.tolist() == [15_001.0] * 7 + [30_001.0] * 2


def test_apply_when_round_fill_then_owner_side_and_instrument_come_from_the_fill() -> None:
    e = engine()
    e.apply_fills([Fill(5, OrderId("o1"), addr(1), "ETH-PERP", Side.SELL, Lots(4), Ticks(300_000))], T0)
    (position,) = e.positions(addr(1))
    assert position.instrument == "ETH-PERP" and position.lots == -4 and position.average_entry_ticks == 300_000


def test_underlying_greeks_when_one_underlying_held_then_other_is_zero_and_sum_is_account() -> None:
    e = engine()
    e.apply_fills([trade(addr(1), "ETH-30D-3000-P", Side.BUY, 5, 12_000)], T0)
    by_underlying = e.underlying_greeks(addr(1), T0)
    assert by_underlying["ETH"] == e.account_greeks(addr(1), T0)
    assert by_underlying["BTC"] == Greeks(0.0, 0.0, 0.0, 0.0)
