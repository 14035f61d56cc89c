"""The engine facade: incremental recompute, collateral, Greeks, public API."""

from __future__ import annotations

import ast
import pathlib
import random

import numpy as np
import pytest

import darkpool.margin
from darkpool.domain import Lots, Side, Ticks
from darkpool.errors import MarginError
from darkpool.margin import MarginEngine, portfolio_margin

from .helpers import INSTRUMENTS, T0, addr, engine, mark_ticks, trade

SYMBOLS = [i.symbol for i in INSTRUMENTS]


def busy_engine(accounts: int = 40, seed: int = 1) -> MarginEngine:
    rng = random.Random(seed)
    e = engine()
    for n in range(accounts):
        e.deposit(addr(n), rng.randint(1, 10**9))
    fills = [
        trade(addr(rng.randrange(accounts)), s, rng.choice(list(Side)), Lots(rng.randint(1, 50)),
              Ticks(mark_ticks(e, s) + rng.randint(-50, 50)))
        for s in rng.choices(SYMBOLS, k=200)
    ]
    e.apply_fills(fills, T0, fee_rate=0.0003)
    return e


def test_margin_table_when_rows_updated_incrementally_then_equal_full_recompute() -> None:
    e = busy_engine()
    e.recompute_all(T0)
    e.apply_fills([trade(addr(3), "ETH-30D-3000-C", Side.SELL, Lots(9), Ticks(12_700))], T0)
    e.deposit(addr(4), 5)
    incremental = e.margin_table(T0)
    fresh = busy_engine()
    fresh.apply_fills([trade(addr(3), "ETH-30D-3000-C", Side.SELL, Lots(9), Ticks(12_700))], T0)
    fresh.deposit(addr(4), 5)
    full = fresh.recompute_all(T0)
    for name in ("equity", "initial", "maintenance", "worst_loss"):
        assert np.array_equal(getattr(incremental, name), getattr(full, name))


def test_margin_table_when_mark_moves_then_recomputed_for_new_mark() -> None:
    e = busy_engine()
    before = e.margin_table(T0).initial.copy()
    e.set_mark("ETH", 3300.0, T0 + 5)
    after = e.margin_table(T0 + 5)
    direct = portfolio_margin(
        e._book.positions, e._book.cost, e._book.balance, e.risk(T0 + 5), e.config.maintenance_fraction
    )
    assert np.array_equal(after.initial, direct.initial) and not np.array_equal(after.initial, before)


def test_withdraw_when_within_free_collateral_then_allowed_else_refused_without_change() -> None:
    e = engine()
    a = addr(1)
    e.deposit(a, 100 * 10**6)
    e.apply_fills([trade(a, "ETH-PERP", Side.BUY, Lots(100), Ticks(300_000))], T0)
    free = e.account_margin(a, T0).free_collateral
    with pytest.raises(MarginError, match="exceeds free collateral"):
        e.withdraw(a, free + 1, T0)
    assert e.account_margin(a, T0).free_collateral == free
    e.withdraw(a, free, T0)
    assert e.account_margin(a, T0).free_collateral == 0


def test_greeks_when_positions_held_then_per_position_sum_to_account() -> None:
    e = engine()
    a = addr(1)
    e.apply_fills(
        [
            trade(a, "ETH-PERP", Side.BUY, Lots(10), Ticks(300_000)),
            trade(a, "ETH-30D-3000-C", Side.SELL, Lots(20), Ticks(12_700)),
        ],
        T0,
    )
    per = e.position_greeks(a, T0)
    total = e.account_greeks(a, T0)
    assert per["ETH-PERP"].delta == pytest.approx(10 * 0.001)
    assert per["ETH-30D-3000-C"].delta == pytest.approx(-20 * 0.001 * 0.5, rel=0.1)
    assert per["ETH-30D-3000-C"].gamma < 0 and per["ETH-30D-3000-C"].vega < 0
    assert per["ETH-30D-3000-C"].theta > 0
    assert total.delta == pytest.approx(sum(g.delta for g in per.values()))


def test_greeks_when_bumped_through_engine_then_delta_matches_repricing() -> None:
    e = engine()
    a = addr(1)
    e.apply_fills([trade(a, "ETH-90D-3000-C", Side.BUY, Lots(50), Ticks(35_000))], T0)
    h = 0.5
    values = []
    for spot in (3000.0 - h, 3000.0 + h):
        bumped = engine(spot=spot)
        values.append(50 * float(bumped.risk(T0).mark_value[4]) / 10**6)
    assert e.account_greeks(a, T0).delta == pytest.approx((values[1] - values[0]) / (2 * h), rel=1e-6)


def test_set_implied_vol_when_out_of_range_or_unknown_then_rejected() -> None:
    e = engine()
    with pytest.raises(MarginError):
        e.set_implied_vol("ETH-30D-3000-C", 0.0)
    with pytest.raises(MarginError, match="unknown instrument"):
        e.set_implied_vol("BTC-C", 0.5)


def test_engine_when_option_has_no_vol_then_margin_error() -> None:
    e = MarginEngine(INSTRUMENTS)
    e.set_mark("ETH", 3000.0, T0)
    e.set_mark("BTC", 60_000.0, T0)
    with pytest.raises(MarginError, match="implied volatility"):
        e.risk(T0)


def test_all_when_listed_then_every_name_exists_and_public_names_are_listed() -> None:
    assert all(hasattr(darkpool.margin, name) for name in darkpool.margin.__all__)
    public = {n for n in vars(darkpool.margin) if not n.startswith("_")} - {"annotations"}
    assert public == set(darkpool.margin.__all__)


def test_sources_when_scanned_then_no_wall_clock_or_randomness() -> None:
    root = pathlib.Path(darkpool.margin.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"time", "datetime", "random", "os"} & set(names), path


def test_settle_expired_when_call_expires_in_the_money_then_closed_at_intrinsic() -> None:
    e = engine()
    long, short = addr(1), addr(2)
    e.deposit(short, 10**9)
    e.apply_fills(
        [
            trade(long, "ETH-30D-3000-C", Side.BUY, Lots(10), Ticks(12_000)),
            trade(short, "ETH-30D-3000-C", Side.SELL, Lots(10), Ticks(12_000)),
        ],
        T0,
    )
    expiry = T0 + 30 * 86_400
    e.set_mark("ETH", 3100.0, expiry)
    e.set_mark("BTC", 60_000.0, expiry)
    fills = e.settle_expired(expiry)
    assert {(f.account, f.side, f.quantity_lots, f.price_ticks) for f in fills} == {
        (long, Side.SELL, 10, 10_000),
        (short, Side.BUY, 10, 10_000),
    }
    assert {(f.round_id, f.order_id, f.instrument) for f in fills} == {
        (0, f"expiry:ETH-30D-3000-C:{holder}", "ETH-30D-3000-C") for holder in (long, short)
    }
    assert e.positions(long) == [] and e.positions(short) == []
    # Bought at 120.00, settled at intrinsic 100.00: 20.00 per ETH on 10 lots of 0.001 ETH.
    assert e.balances(long)[1] == -200_000 and e.balances(short)[1] == 200_000
    assert e.balances(long)[2] == 0 and e.balances(short)[2] == 0  # settlement pays no fee
    assert e.settle_expired(expiry) == []
    assert e.cap(short, "ETH-30D-3000-C", Side.SELL, 1, expiry) == 0


def test_liquidation_orders_when_no_account_yet_then_none_and_no_crash() -> None:
    from tests.margin.helpers import T0, engine

    assert engine().liquidation_orders(T0) == []
