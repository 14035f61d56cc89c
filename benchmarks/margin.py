"""Benchmark portfolio margin: full recompute, speedup over a Python loop, incremental update, caps.

Prints JSON lines ``{"metric", "value", "unit", ...}``. The loop baseline runs in the same
process on the same inputs, and its numbers must equal the vectorized ones exactly.

    .venv/bin/python benchmarks/margin.py [--accounts 10000] [--repeat 7]
"""

from __future__ import annotations

import os

# The products are thin (20 instruments wide): BLAS threads add only synchronisation, and on a
# shared machine a descheduled helper thread stalls every product. Override from the environment.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from darkpool.domain import Account, Fill, Instrument, InstrumentKind, Lots, OptionRight, OrderId, Side, Ticks
from darkpool.margin import CapRequest, MarginEngine, portfolio_margin_loop

T0 = 1_700_000_000
DAY = 86_400


def instruments() -> list[Instrument]:
    """Return 20 ETH instruments: a perpetual, 3 futures and 16 options over 2 expiries."""
    out = [Instrument("ETH-PERP", InstrumentKind.PERPETUAL, "ETH", 0.01, 0.001)]
    out += [
        Instrument(f"ETH-F{d}", InstrumentKind.FUTURE, "ETH", 0.01, 0.001, expiry=T0 + d * DAY) for d in (30, 90, 180)
    ]
    for days in (14, 60):
        for strike in (2400, 2800, 3200, 3600):
            for right in OptionRight:
                out.append(
                    Instrument(
                        f"ETH-{days}D-{strike}-{right.value}", InstrumentKind.OPTION, "ETH", 0.01, 0.001,
                        expiry=T0 + days * DAY, strike_ticks=Ticks(strike * 100), right=right,
                    )
                )
    return out


def populated(accounts: int, seed: int) -> MarginEngine:
    insts = instruments()
    engine = MarginEngine(insts, implied_vols={i.symbol: 0.55 for i in insts if i.is_option})
    engine.set_mark("ETH", 3000.0, T0)
    rng = np.random.default_rng(seed)
    marks = engine.risk(T0).mark_price
    fills: list[Fill] = []
    for n in range(accounts):
        acct = Account(f"0x{n:040x}")
        engine.deposit(acct, int(rng.integers(10**8, 10**11)))
        for column in rng.choice(len(insts), size=int(rng.integers(2, 9)), replace=False):
            ticks = max(1, round(float(marks[column]) / 0.01 * (1 + rng.normal(0, 0.01))))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            order_id = OrderId(f"{acct}:{len(fills)}")
            lots = Lots(int(rng.integers(1, 200)))
            fills.append(Fill(1, order_id, acct, insts[column].symbol, side, lots, Ticks(ticks)))
    engine.apply_fills(fills, T0)
    return engine


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Return the median and the best wall time of ``fn`` over ``repeat`` runs, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), min(samples)


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **extra}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    engine = populated(args.accounts, seed=7)
    shape = {
        "accounts": args.accounts,
        "instruments": len(engine.instruments),
        "scenarios": len(engine.scenarios),
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
    }
    now = T0 + 1
    price = [3000.0]

    def full_recompute() -> None:
        # A new mark forces the scenario PnL matrix to be rebuilt, then every account is recomputed.
        price[0] *= 1.0001
        engine.set_mark("ETH", price[0], now)
        engine.recompute_all(now)

    median, best = timed(full_recompute, args.repeat)
    emit("margin_full_recompute_ms", median, "ms", best_ms=round(best, 4), bar="<=50", **shape)
    risk = engine.risk(now)
    vector_median, vector_best = timed(lambda: engine.recompute_all(now), args.repeat)
    emit("margin_matrix_only_ms", vector_median, "ms", best_ms=round(vector_best, 4), **shape)

    book = engine._book
    table = engine.recompute_all(now)
    pos, cost, bal = book.positions.tolist(), book.cost.tolist(), book.balance.tolist()
    loop: list[tuple[float, float, float]] = []

    def run_loop() -> None:
        loop[:] = portfolio_margin_loop(pos, cost, bal, risk, engine.config.maintenance_fraction)

    loop_median, loop_best = timed(run_loop, 3)
    vector = list(zip(table.equity.tolist(), table.initial.tolist(), table.maintenance.tolist(), strict=True))
    assert vector == loop, "vectorized margin differs from the Python loop"
    emit("margin_loop_ms", loop_median, "ms", best_ms=round(loop_best, 4), **shape)
    # Best against best (the timeit convention): the machine is shared, and noise only adds time.
    emit("margin_speedup_vs_loop", loop_best / vector_best, "x", bar=">=100", numbers_equal=True,
         median_ratio=round(loop_median / vector_median, 1), **shape)

    acct = engine.accounts[17]
    fill = Fill(2, OrderId(f"{acct}:bench"), acct, "ETH-14D-3200-call", Side.SELL, Lots(3), Ticks(6_000))
    engine.margin_table(now)

    def incremental() -> None:
        engine.apply_fills([fill], now)
        engine.margin_table(now)

    median, best = timed(incremental, args.repeat)
    emit("margin_incremental_update_ms", median, "ms", best_ms=round(best, 4), **shape)
    assert np.array_equal(engine.margin_table(now).initial, engine.recompute_all(now).initial)

    emit("margin_cap_ms", timed(lambda: engine.cap(acct, "ETH-PERP", Side.BUY, 300_000, now), args.repeat)[0], "ms")
    requests = [
        CapRequest(engine.accounts[i], engine.instruments[i % 20].symbol, Side(i % 2),
                   Ticks(max(1, round(float(risk.mark_price[i % 20]) * 100))))
        for i in range(1000)
    ]
    emit("margin_batch_caps_1000_ms", timed(lambda: engine.caps(requests, now, max_lots=255), 3)[0], "ms")
    engine.set_mark("ETH", 2500.0, now + 1)
    liquidations = timed(lambda: engine.liquidation_orders(now + 1), 1)[0]
    emit("margin_liquidation_orders_ms", liquidations, "ms", queued=len(engine.liquidation_queue), **shape)
    mark_update(engine, now + 2, shape)
    funding_and_expiry(engine, now + 3, shape)


def mark_update(engine: MarginEngine, now: int, shape: dict[str, object]) -> None:
    """Time what the operator runs on each new oracle mark: reprice, recompute every account exposed to the
    underlying (all 10k here: every instrument is on ETH), queue those under maintenance."""
    price = [2500.0]

    def on_mark() -> None:
        price[0] *= 1.0001
        engine.set_mark("ETH", price[0], now)
        engine.liquidation_orders(now)

    median, best = timed(on_mark, 11)
    emit("margin_mark_update_ms", median, "ms", best_ms=round(best, 4), exposed=len(engine.accounts),
         queued=len(engine.liquidation_queue), note="set_mark + liquidation_orders: the operator's path on each "
         "feed answer (continuous margin)", **shape)


def funding_and_expiry(engine: MarginEngine, now: int, shape: dict[str, object]) -> None:
    """Time one perpetual funding payment over every account, and one expiry's cash settlement."""
    net = engine.net_open_lots("ETH-PERP")
    if net:  # the populated book is one-sided: a house account takes the other side, as a round would
        house = Account("0x" + "f" * 40)
        engine.deposit(house, 10**15)
        side = Side.SELL if net > 0 else Side.BUY
        engine.apply_fills([Fill(9, OrderId("house"), house, "ETH-PERP", side, Lots(abs(net)), Ticks(300_000))], now)
    holders = int(np.count_nonzero(engine._book.positions[:, engine._book.column("ETH-PERP")]))
    per_lot = 2_250  # 0.75% of a 3,000 index on a 0.001 ETH lot, in 6-decimal base units
    median, best = timed(lambda: engine.pay_funding("ETH-PERP", per_lot), 11)
    book = engine._book

    def per_account_loop() -> None:
        for row, who in enumerate(book.accounts):
            for position in engine.positions(who):
                if position.instrument == "ETH-PERP":
                    book.realized[row] -= position.lots * per_lot
                    book.balance[row] = float(book.cash(row))

    loop_median, loop_best = timed(per_account_loop, 3)
    emit("funding_accrual_ms", median, "ms", best_ms=round(best, 4), holders=holders, baseline_loop_ms=round(
        loop_median, 3), speedup=round(loop_best / best, 1), note="pay_funding: every holder of the perpetual, "
         "longs to shorts, exactly zero-sum; baseline: a per-account loop over the public positions", **shape)
    settled = copy.deepcopy(engine)
    expiry = min(i.expiry for i in engine.instruments if i.expiry is not None)
    settled.set_mark("ETH", 3000.0, expiry)
    start = time.perf_counter()
    fills = settled.settle_expired(expiry)
    emit("expiry_settlement_ms", (time.perf_counter() - start) * 1e3, "ms", settlement_fills=len(fills),
         note="every position in the instruments expiring first, cash-settled at the mark (options at intrinsic)",
         **shape)


if __name__ == "__main__":
    main()
