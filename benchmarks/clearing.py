"""Clearing throughput: the vectorized engine, and its speed-up over the reference engine.

Prints JSON lines. Bars (issue 2): >= 1,000,000 orders/s at 1,000,000 orders x 16 levels, and
>= 50x over the reference engine on the same 100,000-order round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import best_of, emit

from darkpool.clearing import OrderArrays, clear_arrays, clear_reference, clear_vectorized
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks


def make_round(n: int, levels: int, seed: int) -> tuple[Round, OrderArrays]:
    rng = np.random.default_rng(seed)
    band_low = 300_000
    arrays = OrderArrays(
        is_buy=rng.random(n) < 0.5,
        limit_ticks=rng.integers(band_low - 4, band_low + levels + 4, n, dtype=np.int64),
        quantity_lots=rng.integers(1, 256, n, dtype=np.int64),
        priority=np.arange(n, dtype=np.int64),
    )
    return Round("ETH-PERP", Ticks(band_low + levels // 2), Ticks(band_low), levels), arrays


def to_orders(arrays: OrderArrays) -> list[Order]:
    return [
        Order(OrderId(f"o{i}"), Side.BUY if b else Side.SELL, Ticks(p), Lots(q), int(r))
        for i, (b, p, q, r) in enumerate(zip(arrays.is_buy.tolist(), arrays.limit_ticks.tolist(),
                                             arrays.quantity_lots.tolist(), arrays.priority.tolist(), strict=True))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--compare-orders", type=int, default=100_000)
    args = parser.parse_args()

    round_, arrays = make_round(args.orders, 16, seed=1)
    seconds = best_of(lambda: clear_arrays(round_, arrays), repeat=7)
    emit("clearing_vectorized_orders_per_s", args.orders / seconds, "orders/s",
         orders=args.orders, levels=16, seconds=seconds, bar=1_000_000)

    round_, arrays = make_round(args.compare_orders, 16, seed=2)
    orders = to_orders(arrays)
    reference_s = best_of(lambda: clear_reference(round_, orders), repeat=1)
    vectorized_s = best_of(lambda: clear_arrays(round_, arrays), repeat=7)
    objects_s = best_of(lambda: clear_vectorized(round_, orders), repeat=3)
    expected = clear_reference(round_, orders)
    assert clear_vectorized(round_, orders) == expected, "engines disagree"
    assert clear_arrays(round_, arrays).fills.tolist() == list(expected.fills.values())
    emit("clearing_reference_seconds", reference_s, "s", orders=args.compare_orders, levels=16)
    emit("clearing_vectorized_vs_reference_speedup", reference_s / vectorized_s, "x",
         orders=args.compare_orders, levels=16, reference_s=reference_s, vectorized_s=vectorized_s, bar=50)
    emit("clearing_vectorized_from_objects_vs_reference_speedup", reference_s / objects_s, "x",
         orders=args.compare_orders, note="includes packing Order objects into arrays and back")


if __name__ == "__main__":
    main()
