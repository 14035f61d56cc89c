"""The vectorized clearing engine: DESIGN.md §2 over NumPy arrays, O(orders + levels).

Demand and supply curves come from one histogram per side over clamped band offsets followed
by a cumulative sum, so a round costs a few passes over the order arrays whatever the number of
levels. Results equal :func:`darkpool.clearing.reference.clear_reference` exactly; a Hypothesis
test holds the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from darkpool.clearing.reference import clear_reference
from darkpool.domain import Lots, Order, Round, RoundResult, Side, Ticks

__all__ = ["ArrayResult", "OrderArrays", "clear_arrays", "clear_vectorized", "curves_arrays"]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Float64 histograms are exact below this total; above it we sum in int64 instead.
_FLOAT_EXACT = 2**53
_INT64_SAFE = 2**62


@dataclass(frozen=True, slots=True)
class OrderArrays:
    """A round's orders as parallel arrays (``is_buy``, ``limit_ticks``, ``quantity_lots``, ``priority``)."""

    is_buy: BoolArray
    limit_ticks: Int64Array
    quantity_lots: Int64Array
    priority: Int64Array

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderArrays:
        """Pack orders into arrays; raises ``OverflowError`` for values beyond int64."""
        n = len(orders)
        return cls(
            is_buy=np.fromiter((o.side is Side.BUY for o in orders), dtype=np.bool_, count=n),
            limit_ticks=np.fromiter((o.limit_ticks for o in orders), dtype=np.int64, count=n),
            quantity_lots=np.fromiter((o.quantity_lots for o in orders), dtype=np.int64, count=n),
            priority=np.fromiter((o.priority for o in orders), dtype=np.int64, count=n),
        )

    def __len__(self) -> int:
        return int(self.limit_ticks.shape[0])


@dataclass(frozen=True, slots=True)
class ArrayResult:
    price_ticks: int | None
    volume_lots: int
    fills: Int64Array


def _check_int64(round_: Round, orders: OrderArrays) -> int:
    """Return the total quantity; raise ``OverflowError`` if int64 arithmetic could wrap."""
    total = int(orders.quantity_lots.sum()) if len(orders) else 0
    if total >= _INT64_SAFE or abs(round_.band_low_ticks) >= _INT64_SAFE or (
        len(orders) and int(np.abs(orders.limit_ticks).max()) >= _INT64_SAFE
    ):
        raise OverflowError("round values do not fit int64 arithmetic")
    return total


def curves_arrays(round_: Round, orders: OrderArrays) -> tuple[Int64Array, Int64Array]:
    """Demand and supply at every level (index 0 is ``band_low_ticks``)."""
    levels = round_.levels
    total = _check_int64(round_, orders)
    offset = orders.limit_ticks - np.int64(round_.band_low_ticks)
    # One histogram for both sides. A buy with offset b is eligible at levels 0..b: bucket b+1 in
    # 0..levels. A sell with offset s is eligible at levels s..levels-1: bucket levels+1+s.
    bucket = np.where(
        orders.is_buy,
        np.clip(offset, -1, levels - 1) + 1,
        np.clip(offset, 0, levels) + (levels + 1),
    )
    size = 2 * (levels + 1)
    if total < _FLOAT_EXACT:
        hist = np.bincount(bucket, weights=orders.quantity_lots, minlength=size).astype(np.int64)
    else:
        hist = np.zeros(size, dtype=np.int64)
        np.add.at(hist, bucket, orders.quantity_lots)
    demand = np.cumsum(hist[levels::-1])[::-1][1:]
    supply = np.cumsum(hist[levels + 1 :])[:levels]
    return demand, supply


def _rationed(orders: OrderArrays, eligible: BoolArray, volume: int) -> Int64Array:
    """Time-priority fills of the eligible orders of one side, ``volume`` lots in all."""
    qty = np.where(eligible, orders.quantity_lots, 0)
    priority = orders.priority
    if bool(np.all(priority[1:] >= priority[:-1])):
        earlier = np.cumsum(qty) - qty
        return np.minimum(qty, np.maximum(0, volume - earlier))
    index = np.flatnonzero(eligible)
    index = index[np.argsort(priority[index], kind="stable")]
    fills = np.zeros(len(orders), dtype=np.int64)
    q = qty[index]
    fills[index] = np.minimum(q, np.maximum(0, volume - (np.cumsum(q) - q)))
    return fills


def clear_arrays(round_: Round, orders: OrderArrays) -> ArrayResult:
    """Clear a round given as arrays; ``fills`` is aligned with the input arrays."""
    demand, supply = curves_arrays(round_, orders)
    volume = np.minimum(demand, supply)
    if volume.size == 0 or int(volume.max()) == 0:
        return ArrayResult(None, 0, np.zeros(len(orders), dtype=np.int64))
    prices = np.arange(round_.levels, dtype=np.int64) + np.int64(round_.band_low_ticks)
    distance = np.abs(prices - np.int64(round_.reference_ticks))
    # lexsort keys: last is primary.
    best = int(np.lexsort((prices, distance, np.abs(demand - supply), -volume))[0])
    price, v = int(prices[best]), int(volume[best])
    eligible = np.where(orders.is_buy, orders.limit_ticks >= price, orders.limit_ticks <= price)
    fills = np.where(eligible, orders.quantity_lots, 0)
    # At most one side is rationed: the one whose eligible total exceeds the volume.
    if int(demand[best]) != v:
        fills = np.where(orders.is_buy, _rationed(orders, eligible & orders.is_buy, v), fills)
    elif int(supply[best]) != v:
        fills = np.where(orders.is_buy, fills, _rationed(orders, eligible & ~orders.is_buy, v))
    return ArrayResult(price, v, fills)


def clear_vectorized(round_: Round, orders: Sequence[Order]) -> RoundResult:
    """Clear a round of :class:`Order` objects; same result as the reference engine.

    Values beyond int64 fall back to the reference engine, which uses Python integers.
    """
    try:
        arrays = OrderArrays.from_orders(orders)
        result = clear_arrays(round_, arrays)
    except OverflowError:
        return clear_reference(round_, orders)
    fills = {o.id: Lots(int(f)) for o, f in zip(orders, result.fills.tolist(), strict=True)}
    price = None if result.price_ticks is None else Ticks(result.price_ticks)
    return RoundResult(price_ticks=price, volume_lots=Lots(result.volume_lots), fills=fills)
