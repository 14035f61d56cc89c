"""The vectorized clearing engine: DESIGN.md §2 over NumPy arrays, O(orders + levels).

Demand and supply curves come from one histogram per side over clamped band offsets followed
by a cumulative sum, so a round costs a few passes over the order arrays whatever the number of
levels. Results equal :func:`darkpool.clearing.reference.clear_reference` exactly; a Hypothesis
test holds the two together, on ordinary and on extreme values.

Exactness. Only a limit's band offset matters, so limits are clamped to the band ±1 *before*
any arithmetic: no limit, however far out, can wrap. Quantity totals are bounded before any sum
is taken; when a total, the band or the reference could take an int64 intermediate past its
range, the same algorithm runs over Python integers (NumPy object arrays) instead: slower, still
O(orders + levels), and exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from darkpool.clearing.reference import clear_reference
from darkpool.domain import Lots, Order, Round, RoundResult, Side, Ticks
from darkpool.errors import ValidationError

__all__ = ["ArrayResult", "OrderArrays", "clear_arrays", "clear_vectorized", "curves_arrays"]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
LotsArray = npt.NDArray[Any]
"""Lots per level or per order: int64, or Python ints (object dtype) when int64 could wrap."""

_INT64_MAX = 2**63 - 1
# Prices and the reference within ±2**62 keep every difference of two of them inside int64.
_PRICE_SAFE = 2**62
# Float64 histograms are exact below this total; above it we sum in int64 (or Python ints).
_FLOAT_EXACT = 2**53


@dataclass(frozen=True, slots=True)
class OrderArrays:
    """A round's orders as parallel arrays (``is_buy``, ``limit_ticks``, ``quantity_lots``, ``priority``).

    Construction checks dtypes, shapes and that every quantity is at least 1, as :class:`Order`
    does; any int64 limit or priority is valid.
    """

    is_buy: BoolArray
    limit_ticks: Int64Array
    quantity_lots: Int64Array
    priority: Int64Array

    def __post_init__(self) -> None:
        n = None
        for name, dtype in (("is_buy", np.bool_), ("limit_ticks", np.int64),
                            ("quantity_lots", np.int64), ("priority", np.int64)):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray):
                raise ValidationError(f"order arrays: {name} must be a NumPy array, got {type(array).__name__}")
            if array.dtype != dtype or array.ndim != 1:
                got = f"{array.dtype} array of {array.ndim} dimensions"
                raise ValidationError(f"order arrays: {name} must be a 1-D {np.dtype(dtype)} array, got {got}")
            if n is not None and array.shape[0] != n:
                raise ValidationError(f"order arrays: {name} has {array.shape[0]} entries, expected {n}")
            n = array.shape[0]
        smallest = int(self.quantity_lots.min()) if n else 1
        if smallest < 1:
            raise ValidationError(f"order arrays: quantity_lots must be at least 1, got {smallest}")

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
    """A clearing over arrays; ``fills`` is aligned with the input and ``volume_lots`` may pass int64."""

    price_ticks: int | None
    volume_lots: int
    fills: Int64Array


def _quantity_total(quantity_lots: Int64Array) -> int:
    """The total quantity, exactly, without summing in a width that could wrap."""
    n = len(quantity_lots)
    if n == 0:
        return 0
    bound = int(quantity_lots.max()) * n
    if bound <= _INT64_MAX:
        return bound  # an upper bound is enough below int64; the exact sum is not needed
    if n >= 2**31:
        return sum(quantity_lots.tolist())
    # Each 32-bit half sums to below 2**62 over fewer than 2**31 orders.
    high = int((quantity_lots >> 32).sum())
    return (high << 32) + int((quantity_lots & 0xFFFFFFFF).sum())


def _fits_int64(round_: Round, total: int) -> bool:
    """Whether every intermediate of this round's clearing stays inside int64."""
    low, reference = round_.band_low_ticks, round_.reference_ticks
    return (
        total <= _INT64_MAX
        and low - 1 >= -_PRICE_SAFE
        and low + round_.levels <= _PRICE_SAFE
        and -_PRICE_SAFE <= reference <= _PRICE_SAFE
    )


def _band_offsets(round_: Round, limit_ticks: Int64Array, exact: bool) -> Int64Array:
    """Limits as band offsets clamped to ``-1..levels`` (:meth:`Round.band_offset`, vectorized)."""
    low = round_.band_low_ticks
    limits: npt.NDArray[Any] = limit_ticks.astype(object) if exact else limit_ticks
    # Clamp first, subtract second: the difference then lies in -1..levels and cannot wrap.
    return np.asarray(np.clip(limits, low - 1, low + round_.levels) - low, dtype=np.int64)


def _curves(
    round_: Round, orders: OrderArrays, offset: Int64Array, total: int, exact: bool
) -> tuple[LotsArray, LotsArray]:
    levels = round_.levels
    # One histogram for both sides. A buy with offset b is eligible at levels 0..b: bucket b+1 in
    # 0..levels. A sell with offset s is eligible at levels s..levels-1: bucket levels+1+s.
    bucket = np.where(orders.is_buy, np.minimum(offset, levels - 1) + 1, np.maximum(offset, 0) + (levels + 1))
    size = 2 * (levels + 1)
    hist: LotsArray
    if exact:
        hist = np.zeros(size, dtype=object)
        np.add.at(hist, bucket, orders.quantity_lots.astype(object))
    elif total < _FLOAT_EXACT:
        hist = np.bincount(bucket, weights=orders.quantity_lots, minlength=size).astype(np.int64)
    else:
        hist = np.zeros(size, dtype=np.int64)
        np.add.at(hist, bucket, orders.quantity_lots)
    demand = np.cumsum(hist[levels::-1])[::-1][1:]
    supply = np.cumsum(hist[levels + 1 :])[:levels]
    return demand, supply


def curves_arrays(round_: Round, orders: OrderArrays) -> tuple[LotsArray, LotsArray]:
    """Demand and supply at every level (index 0 is ``band_low_ticks``).

    int64 arrays, or object arrays of Python ints when a curve could pass int64.
    """
    total = _quantity_total(orders.quantity_lots)
    exact = not _fits_int64(round_, total)
    return _curves(round_, orders, _band_offsets(round_, orders.limit_ticks, exact), total, exact)


def _rationed(quantity_lots: LotsArray, priority: Int64Array, eligible: BoolArray, volume: int) -> LotsArray:
    """Time-priority fills of the eligible orders of one side, ``volume`` lots in all."""
    qty = np.where(eligible, quantity_lots, 0)
    if bool(np.all(priority[1:] >= priority[:-1])):
        earlier = np.cumsum(qty) - qty
        return np.minimum(qty, np.maximum(0, volume - earlier))
    index = np.flatnonzero(eligible)
    index = index[np.argsort(priority[index], kind="stable")]
    fills = np.zeros(len(qty), dtype=qty.dtype)
    q = qty[index]
    fills[index] = np.minimum(q, np.maximum(0, volume - (np.cumsum(q) - q)))
    return fills


def clear_arrays(round_: Round, orders: OrderArrays) -> ArrayResult:
    """Clear a round given as arrays; ``fills`` is aligned with the input arrays.

    Exact for every int64 input: values that could wrap int64 arithmetic are cleared over
    Python integers, with the same result the reference engine gives.
    """
    total = _quantity_total(orders.quantity_lots)
    exact = not _fits_int64(round_, total)
    offset = _band_offsets(round_, orders.limit_ticks, exact)
    demand, supply = _curves(round_, orders, offset, total, exact)
    volume = np.minimum(demand, supply)
    if volume.size == 0 or int(volume.max()) == 0:
        return ArrayResult(None, 0, np.zeros(len(orders), dtype=np.int64))
    levels = np.arange(round_.levels, dtype=np.int64)
    low, reference = round_.band_low_ticks, round_.reference_ticks
    prices: LotsArray = levels.astype(object) + low if exact else levels + np.int64(low)
    distance = np.abs(prices - reference) if exact else np.abs(prices - np.int64(reference))
    # lexsort keys: last is primary.
    best = int(np.lexsort((prices, distance, np.abs(demand - supply), -volume))[0])
    price, v = int(prices[best]), int(volume[best])
    # Eligibility from the same clamped offsets the curves used: one view of every limit.
    eligible = np.where(orders.is_buy, offset >= best, offset <= best)
    quantity: LotsArray = orders.quantity_lots.astype(object) if exact else orders.quantity_lots
    fills = np.where(eligible, quantity, 0)
    # At most one side is rationed: the one whose eligible total exceeds the volume.
    if int(demand[best]) != v:
        rationed = _rationed(quantity, orders.priority, eligible & orders.is_buy, v)
        fills = np.where(orders.is_buy, rationed, fills)
    elif int(supply[best]) != v:
        rationed = _rationed(quantity, orders.priority, eligible & ~orders.is_buy, v)
        fills = np.where(orders.is_buy, fills, rationed)
    # Every fill is at most its order's int64 quantity.
    return ArrayResult(price, v, np.asarray(fills, dtype=np.int64))


def clear_vectorized(round_: Round, orders: Sequence[Order]) -> RoundResult:
    """Clear a round of :class:`Order` objects; same result as the reference engine.

    Orders whose values do not fit int64 at all go to the reference engine's Python integers.
    """
    try:
        arrays = OrderArrays.from_orders(orders)
    except OverflowError:
        return clear_reference(round_, orders)
    result = clear_arrays(round_, arrays)
    fills = {o.id: Lots(int(f)) for o, f in zip(orders, result.fills.tolist(), strict=True)}
    price = None if result.price_ticks is None else Ticks(result.price_ticks)
    return RoundResult(price_ticks=price, volume_lots=Lots(result.volume_lots), fills=fills)
