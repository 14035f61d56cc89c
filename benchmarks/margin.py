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
from functools import partial

import numpy as np

from darkpool.domain import Account, Fill, Instrument, InstrumentKind, Lots, OptionRight, OrderId, Side, Ticks
from darkpool.margin import CapRequest, MarginConfig, MarginEngine, portfolio_margin_loop

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
    return random_book(instruments(), MarginConfig(), {"ETH": 3000.0}, accounts, seed)


def random_book(insts: list[Instrument], config: MarginConfig, marks: dict[str, float], accounts: int,
                seed: int) -> MarginEngine:
    """Return ``insts`` held at random by ``accounts`` (2 to 8 instruments each, either side), marked at ``marks``."""
    engine = MarginEngine(insts, config, implied_vols={i.symbol: 0.55 for i in insts if i.is_option})
    for underlying, price in marks.items():
        engine.set_mark(underlying, price, T0)
    rng = np.random.default_rng(seed)
    prices = engine.risk(T0).mark_price
    fills: list[Fill] = []
    for n in range(accounts):
        acct = Account(f"0x{n:040x}")
        engine.deposit(acct, int(rng.integers(10**8, 10**11)))
        for column in rng.choice(len(insts), size=int(rng.integers(2, 9)), replace=False):
            tick = insts[column].tick_size
            ticks = Ticks(max(1, round(float(prices[column]) / tick * (1 + rng.normal(0, 0.01)))))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            fills.append(Fill(1, OrderId(f"{acct}:{len(fills)}"), acct, insts[column].symbol, side,
                              Lots(int(rng.integers(1, 200))), ticks))
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
    funding_and_expiry(engine, now + 3, shape)
    mark_update(args.accounts, now, shape)
    correlated(args.accounts, args.repeat)


def two_underlyings() -> list[Instrument]:
    """Return 20 instruments over ETH and BTC: per underlying a perpetual, a future and 8 options of one expiry."""
    out: list[Instrument] = []
    for name, tick, lot, strikes in (("ETH", 0.01, 0.001, (2400, 2800, 3200, 3600)),
                                     ("BTC", 0.1, 0.0001, (48_000, 56_000, 64_000, 72_000))):
        out += [Instrument(f"{name}-PERP", InstrumentKind.PERPETUAL, name, tick, lot),
                Instrument(f"{name}-F30", InstrumentKind.FUTURE, name, tick, lot, expiry=T0 + 30 * DAY)]
        out += [Instrument(f"{name}-14D-{k}-{r.value}", InstrumentKind.OPTION, name, tick, lot, expiry=T0 + 14 * DAY,
                           strike_ticks=Ticks(round(k / tick)), right=r) for k in strikes for r in OptionRight]
    return out


def pair_book(accounts: int, seed: int, config: MarginConfig) -> MarginEngine:
    """Return :func:`two_underlyings` held at random by ``accounts``."""
    return random_book(two_underlyings(), config, {"ETH": 3000.0, "BTC": 60_000.0}, accounts, seed)


def correlated(accounts: int, repeat: int) -> None:
    """Time the full recompute with a BTC/ETH correlation (cross-underlying offsets) against the same book
    without it, in the same run; the correlated numbers must equal the per-account loop's."""
    now = T0 + 1
    plain = pair_book(accounts, 13, MarginConfig())
    offset = pair_book(accounts, 13, MarginConfig(correlations=(("BTC", "ETH", 0.8),)))
    timings = {}
    for name, engine in (("plain", plain), ("offset", offset)):
        engine.risk(now)
        timings[name] = timed(partial(engine.recompute_all, now), repeat)
    table, risk, book = offset.recompute_all(now), offset.risk(now), offset._book
    loop: list[tuple[float, float, float]] = []

    def run_loop() -> None:
        loop[:] = portfolio_margin_loop(book.positions.tolist(), book.cost.tolist(), book.balance.tolist(), risk,
                                        offset.config.maintenance_fraction)

    loop_median, loop_best = timed(run_loop, 1)
    assert loop == list(zip(table.equity.tolist(), table.initial.tolist(), table.maintenance.tolist(), strict=True)), \
        "correlated margin differs from the per-account loop"
    base = plain.recompute_all(now).initial
    assert np.all(table.initial <= base)
    both = np.flatnonzero(book.positions[:, :10].any(axis=1) & book.positions[:, 10:].any(axis=1))
    (median, best), (plain_median, plain_best) = timings["offset"], timings["plain"]
    emit("margin_correlated_recompute_ms", median, "ms", best_ms=round(best, 4),
         uncorrelated_ms=round(plain_median, 4), uncorrelated_best_ms=round(plain_best, 4),
         overhead=round(best / plain_best, 2), loop_ms=round(loop_median, 1),
         speedup_vs_loop=round(loop_best / best, 1),
         numbers_equal=True, correlation="BTC:ETH=0.8", accounts_on_both=len(both),
         accounts_credited=int(np.count_nonzero(table.initial < base)),
         initial_margin_ratio=round(float(table.initial.sum() / base.sum()), 4),
         accounts=accounts, instruments=len(offset.instruments), scenarios=len(offset.scenarios),
         blas_threads=os.environ["OPENBLAS_NUM_THREADS"],
         note=f"recompute_all of {accounts:,} accounts x 20 instruments (10 ETH, 10 BTC) with cross-underlying offsets "
              "against the same book without them, same run")


def with_btc(accounts: int, share: float, seed: int) -> MarginEngine:
    """Return the ETH book of :func:`populated` plus a BTC perpetual and 4 BTC options held by ``share`` of the
    accounts (a house account takes the other side), with marks for both."""
    eth = instruments()
    btc = [Instrument("BTC-PERP", InstrumentKind.PERPETUAL, "BTC", 0.1, 0.0001)]
    btc += [Instrument(f"BTC-30D-{k}-{r.value}", InstrumentKind.OPTION, "BTC", 0.1, 0.0001, expiry=T0 + 30 * DAY,
                       strike_ticks=Ticks(k * 10), right=r) for k in (55_000, 65_000) for r in OptionRight]
    engine = MarginEngine(eth + btc, implied_vols={i.symbol: 0.55 for i in eth + btc if i.is_option})
    engine.set_mark("ETH", 3000.0, T0)
    engine.set_mark("BTC", 60_000.0, T0)
    source = populated(accounts, seed)
    fills = [Fill(1, OrderId(f"{who}:{p.instrument}"), who, p.instrument, Side.BUY if p.lots > 0 else Side.SELL,
                  Lots(abs(p.lots)), Ticks(round(p.average_entry_ticks or 0))) for who in source.accounts
             for p in source.positions(who)]
    house = Account("0x" + "f" * 40)
    engine.deposit(house, 10**15)
    rng = np.random.default_rng(seed + 1)
    marks = engine.risk(T0).mark_price
    for n, who in enumerate(source.accounts):
        engine.deposit(who, source.cash(who))
        if rng.random() < share:
            for column in rng.choice(range(len(eth), len(eth) + len(btc)), size=int(rng.integers(1, 4)), replace=False):
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                ticks = Ticks(max(1, round(float(marks[column]) / 0.1)))
                lots = Lots(int(rng.integers(1, 50)))
                symbol = engine.instruments[column].symbol
                fills.append(Fill(2, OrderId(f"{who}:{n}:btc"), who, symbol, side, lots, ticks))
                fills.append(Fill(2, OrderId(f"house:{n}:{symbol}"), house, symbol,
                                  Side.SELL if side is Side.BUY else Side.BUY, lots, ticks))
    engine.apply_fills(fills, T0)
    return engine


def mark_update(accounts: int, now: int, shape: dict[str, object]) -> None:
    """Time what the operator runs on each new oracle mark (continuous margin): record it, recompute the accounts
    exposed to its underlying, queue those under maintenance. Baseline: the per-account loop over those accounts."""
    engine = with_btc(accounts, 0.2, seed=11)
    engine.refresh_queue(now)
    exposed = engine.exposed_rows(["BTC"])
    price = [60_000.0]

    def on_mark() -> None:  # the same second as the last recompute: a second feed read in the same pull
        price[0] *= 1.0001
        engine.set_mark("BTC", price[0], now)
        engine.refresh_queue(now)

    median, best = timed(on_mark, 21)
    table, risk, book = engine.margin_table(now), engine.risk(now), engine._book
    pos, cost, bal = book.positions[exposed].tolist(), book.cost[exposed].tolist(), book.balance[exposed].tolist()
    queue: list[int] = []

    def per_account_loop() -> None:
        rows = portfolio_margin_loop(pos, cost, bal, risk, engine.config.maintenance_fraction)
        queue[:] = [int(r) for r, (equity, _, maintenance) in zip(exposed, rows, strict=True) if equity < maintenance]
        loop[:] = rows

    loop: list[tuple[float, float, float]] = []
    loop_median, loop_best = timed(per_account_loop, 3)
    vector = list(zip(table.equity[exposed].tolist(), table.initial[exposed].tolist(),
                      table.maintenance[exposed].tolist(), strict=True))
    assert vector == loop, "the marked accounts' margin differs from the per-account loop"
    wide = {**shape, "accounts": len(engine.accounts), "instruments": len(engine.instruments)}
    emit("margin_mark_update_ms", median, "ms", best_ms=round(best, 4), exposed=len(exposed),
         queued=len(engine.liquidation_queue), baseline_loop_ms=round(loop_median, 3),
         speedup=round(loop_best / best, 1), numbers_equal=True,
         note="set_mark + refresh_queue on a BTC feed answer: the accounts holding BTC recomputed, queued at once; "
              "baseline: a per-account loop over those accounts", **wide)
    later = [now]

    def on_mark_later() -> None:  # a later second: options decayed, every account is recomputed
        later[0] += 1
        engine.set_mark("BTC", price[0], later[0])
        engine.set_mark("ETH", 3000.0, later[0])
        engine.refresh_queue(later[0])

    median, best = timed(on_mark_later, 11)
    emit("margin_mark_update_new_second_ms", median, "ms", best_ms=round(best, 4), recomputed=len(engine.accounts),
         note="a mark in a later second: every account recomputed (time decay moves all option margin)", **wide)


def funding_and_expiry(engine: MarginEngine, now: int, shape: dict[str, object]) -> None:
    """Time one perpetual funding payment over every account, and one expiry's cash settlement."""
    longs, shorts = engine.open_interest("ETH-PERP")
    if longs != shorts:  # the populated book is one-sided: a house account takes the other side, as a round would
        house = Account("0x" + "f" * 40)
        engine.deposit(house, 10**15)
        side = Side.SELL if longs > shorts else Side.BUY
        engine.apply_fills([Fill(9, OrderId("house"), house, "ETH-PERP", side, Lots(abs(longs - shorts)),
                                 Ticks(300_000))], now)
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
    expiry = min(i.expiry for i in engine.instruments if i.expiry is not None)
    due = {i.symbol: 3000.0 for i in engine.instruments if i.expiry == expiry}
    settled, baseline = copy.deepcopy(engine), copy.deepcopy(engine)
    start = time.perf_counter()
    fills = settled.settle_expired(expiry, due)
    elapsed = (time.perf_counter() - start) * 1e3
    baseline.set_mark("ETH", 3000.0, expiry)
    start = time.perf_counter()
    baseline.apply_fills(fills, expiry, fee_rate=0.0)  # the same closing fills through the trade path
    baseline_ms = (time.perf_counter() - start) * 1e3
    assert [settled.cash(a) for a in settled.accounts] == [baseline.cash(a) for a in baseline.accounts]
    emit("expiry_settlement_ms", elapsed, "ms", settlement_fills=len(fills), baseline_trade_path_ms=round(
        baseline_ms, 3), speedup=round(baseline_ms / elapsed, 1), numbers_equal=True,
         note="settle_expired at the mark at expiry: every position in the instruments expiring first closes (options "
              "at intrinsic); baseline: the same closing fills through apply_fills", **shape)


if __name__ == "__main__":
    main()
