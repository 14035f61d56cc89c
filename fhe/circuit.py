"""The clearing circuit: DESIGN.md §2 over encrypted order slots, in radix-4 digits.

Inputs (``N`` slots, ``L`` levels, ``Q`` quantity digits, ``T`` threshold digits,
``K = T + 1 + Q`` digits per slot, see :mod:`fhe.encoding`):

- ``masks`` (encrypted, ``N x K``): the custodian's per-round digit masks ``R``;
- ``masked`` (clear, ``N x K``): each client's digits ``d = (v - r) mod 4``;
- ``caps`` (clear, ``N x Q``): each slot's quantity cap in digits; ``0`` switches a slot off;
- ``order`` (clear, ``L x L``): ``order[k, s] = 1`` when level ``k`` has tie-break rank ``s``
  (closest to the reference first, then lower price) — public, so the circuit never compares it.

Outputs, the only values ever decrypted, all in base-4 digits: a traded flag, the winning
level's rank (zero unless traded), the volume, every slot's fill, and every slot's fill side
(``0`` for a slot that fills nothing, whatever its side; ``1`` a filled buy, ``2`` a filled sell),
so fills book with no client action after the round and an unfilled order's side stays hidden.

Every lookup reads at most 4 bits, so one parameter set serves the whole circuit. A slot with
threshold ``u`` is eligible at level ``k`` as a buy when ``u >= k`` and as a sell when
``u >= L - 1 - k``: one indicator ``[u >= k]`` serves the buys at ``k`` and the sells at
``L - 1 - k``. Stages, each an ``fhe.tag`` region so its bootstraps are counted by name:

1. ``unmask`` — ``v = (r + d) mod 4`` per digit, one 3-bit lookup each; the side digit is
   clamped to 0/1 and the top threshold digit to the band, so a malicious client cannot leave
   the tables.
2. ``cap`` — ``min(quantity, cap)``: a rippled digit comparison and a digit select.
3. ``eligibility`` — per slot and level ``k >= 1`` the indicator ``[u >= k]`` (level 0 needs none).
4. ``curves`` — per slot, level and digit one lookup of ``(indicator, side, digit)`` for the buys
   and one for the sells (the buys at level 0 need no indicator, the sells at the top level are
   the capped quantity minus the level-0 buys); the digits of all slots are summed with one carry
   lookup per five digits into ``D`` and ``S``, then put in rank order.
5. ``volume`` — per level ``[D >= S]`` (a rippled comparison), ``V = min(D, S)`` by a select and
   ``max(D, S) = D + S - V`` (ties in volume go to the smallest ``max``, the smallest ``|D - S|``).
   When ``D >= S`` the buys are rationed (with ``D = S`` they all fill anyway).
6. ``auction`` — a knock-out bracket over levels in rank order; on equal keys the left (better
   ranked) level wins, so rank never has to be compared.
7. ``allocation`` — each slot's eligibility at the winning level from its threshold, its side and
   the rationed side; the rationed side's remaining volume ``R`` rippled through the slots in time
   priority (``R - x`` per slot, one lookup per digit; the borrow out of the top digit marks the
   slot that exhausts it); full fills and the one partial fill (``R`` before that slot) by selects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from concrete import fhe

from fhe.radix import (
    Tensor,
    add_digits,
    any_nonzero,
    concat,
    exceeds,
    lookup,
    lookup_each,
    select,
)
from fhe.shape import Shape

__all__ = ["ClearingFunction", "clearing_function", "eligible"]

ClearingFunction = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any, Any, Any]]

NONE, RATIONED, OTHER = 0, 1, 2
"""A slot at the winning level: not eligible, eligible on the rationed side, on the other side."""


def eligible(levels: int, threshold: int, side: int, level: int) -> bool:
    """Return whether a slot of ``threshold`` and ``side`` (0 buy, 1 sell) trades at ``level``."""
    return threshold >= (level if side == 0 else levels - 1 - level)


def clearing_function(shape: Shape) -> ClearingFunction:
    """Build the clearing function of ``shape`` (traceable by concrete, or runnable on arrays)."""

    def clear_round(masks: Tensor, masked: Tensor, caps: Tensor, order: Tensor) -> tuple[Any, Any, Any, Any, Any]:
        with fhe.tag("unmask"):
            threshold, side, quantity = _unmask(shape, masks + masked)
        with fhe.tag("cap"):
            capped = _cap(quantity, caps)
        with fhe.tag("eligibility"):
            indicators = _eligibility(shape, threshold)
        with fhe.tag("curves"):
            demand, supply = _curves(shape, indicators, side, capped, order)
        with fhe.tag("volume"):
            volume, larger, buy_rationed = _volumes(demand, supply)
        with fhe.tag("auction"):
            volume, buy_rationed, position = _auction(shape, volume, larger, buy_rationed)
        with fhe.tag("allocation"):
            # Up to 8 levels the indicators, summed, give the threshold back (clamped to L - 1).
            if _folds_threshold(shape):
                threshold = side * 0 if indicators is None else np.sum(indicators, axis=1)
            fills = _allocate(shape, threshold, side, capped, volume, buy_rationed, position, order)
        with fhe.tag("outputs"):
            # The rank digits are zeroed when nothing trades, so a no-trade round reveals no level.
            traded = any_nonzero(volume)
            rank = lookup(4 * traded + position, 7, lambda v: v % 4 if v >= 4 else 0)
            sides = _fill_sides(shape, fills, side)
        return traded, rank, volume, fills, sides

    return clear_round


def _fill_sides(shape: Shape, fills: Tensor, side: Tensor) -> Tensor:
    """Return per slot ``1 + side`` when its fill is non-zero, else ``0`` (the side stays hidden)."""
    digit_sum = np.sum(fills, axis=1)
    bound = 3 * shape.quantity_digits
    base = bound + 1
    if 2 * bound + 1 <= 15:
        # The fill's digit sum and the side share one 4-bit lookup.
        return lookup(digit_sum + base * side, 2 * bound + 1, lambda v: 0 if v % base == 0 else 1 + v // base)
    filled = lookup(digit_sum, bound, lambda v: 1 if v else 0)
    return lookup(2 * filled + side, 3, lambda v: 1 + v % 2 if v >= 2 else 0)


def _unmask(shape: Shape, summed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return the threshold, the side (``N``) and the quantity digits (``N x Q``).

    Up to 8 levels the threshold is the index the eligibility lookup reads: the low digit still
    masked (``r + d``, the lookup takes it ``mod 4`` itself), plus 7 times the top digit. Above,
    it is the threshold digits (``N x T``).
    """
    t_digits = shape.threshold_digits
    top = shape.top_threshold_digit
    if _folds_threshold(shape) and t_digits == 1:
        threshold = summed[:, 0]
    else:
        high = lookup(summed[:, t_digits - 1 : t_digits], 6, lambda v: min(v % 4, top))
        if _folds_threshold(shape):
            threshold = summed[:, 0] + 7 * high.reshape((shape.slots,))
        else:
            threshold = concat([lookup(summed[:, : t_digits - 1], 6, lambda v: v % 4), high])
    side = lookup(summed[:, t_digits], 6, lambda v: min(v % 4, 1))
    quantity = lookup(summed[:, t_digits + 1 :], 6, lambda v: v % 4)
    return threshold, side, quantity


def _folds_threshold(shape: Shape) -> bool:
    """Whether the masked low threshold digit and the top digit fit one 4-bit index (``L <= 8``)."""
    return shape.levels <= 8


def _unfold_threshold(shape: Shape, index: int) -> int:
    if shape.threshold_digits == 1:
        return min(index % 4, shape.top_threshold_digit)
    return index % 7 % 4 + 4 * (index // 7)


def _cap(quantity: Tensor, caps: Tensor) -> Tensor:
    """Return ``min(quantity, cap)`` per slot, in digits."""
    # Concrete multiplies no clear value by a constant: lift the caps first (no bootstrap).
    lifted = quantity * 0 + caps
    over = exceeds(quantity, lifted)
    return select(over.reshape((quantity.shape[0], 1)), lifted, quantity)


def _threshold_value(shape: Shape, threshold: Tensor) -> Tensor:
    weights = np.array([4**j for j in range(shape.threshold_digits)], dtype=np.int64)
    return threshold @ weights


def _eligibility(shape: Shape, threshold: Tensor) -> Tensor | None:
    """Return ``[u >= k]`` per slot and level ``k = 1 .. L - 1`` (``None`` for a single level)."""
    slots, levels = shape.slots, shape.levels
    if levels == 1:
        return None
    if _folds_threshold(shape):
        index, bound = threshold, 6 if shape.threshold_digits == 1 else 13
        decode: Callable[[int], int] = lambda v: _unfold_threshold(shape, v)  # noqa: E731
    else:
        index, bound = _threshold_value(shape, threshold), shape.threshold_bound
        decode = lambda v: v  # noqa: E731
    fns = np.empty((slots, levels - 1), dtype=object)
    for k in range(1, levels):
        for slot in range(slots):
            fns[slot, k - 1] = lambda v, k=k: 1 if decode(v) >= k else 0
    spread = index.reshape((slots, 1)) + np.zeros((slots, levels - 1), dtype=np.int64)
    return lookup_each(spread, bound, fns)


def _curves(
    shape: Shape, indicators: Tensor | None, side: Tensor, capped: Tensor, order: Tensor
) -> tuple[Tensor, Tensor]:
    """Return ``D`` and ``S`` per level in rank order (``L x W`` digits each)."""
    slots, levels, digits = shape.slots, shape.levels, shape.quantity_digits
    sided = 4 * side.reshape((slots, 1)) + capped
    buys_at_0 = lookup(sided, 7, lambda v: v if v < 4 else 0).reshape((slots, 1, digits))
    sells_at_top = capped.reshape((slots, 1, digits)) - buys_at_0
    if indicators is None:
        demand_parts, supply_parts = [buys_at_0], [sells_at_top]
    else:
        index = 8 * indicators.reshape((slots, levels - 1, 1)) + sided.reshape((slots, 1, digits))
        buys = lookup(index, 15, lambda v: v % 4 if v >= 8 and v % 8 < 4 else 0)
        sells = lookup(index, 15, lambda v: v % 4 if v >= 12 else 0)
        # The indicator of level k serves the sells at level L - 1 - k.
        demand_parts, supply_parts = [buys_at_0, buys], [sells[:, ::-1, :], sells_at_top]
    entries = concat(demand_parts + supply_parts, axis=1)
    totals = add_digits(entries, slots * shape.max_quantity)
    demand, supply = totals[0:levels], totals[levels : 2 * levels]
    # Levels into rank order: the order matrix is clear, so this is linear.
    return np.transpose(np.transpose(demand) @ order), np.transpose(np.transpose(supply) @ order)


def _volumes(demand: Tensor, supply: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    levels = demand.shape[0]
    buy_rationed = exceeds(demand, supply, or_equal=True).reshape((levels, 1))
    smaller = select(buy_rationed, supply, demand)
    # A select picks whole digits, so the other operand's digits are linear.
    larger = (demand + supply) - smaller
    return smaller, larger, buy_rationed


def _auction(shape: Shape, volume: Tensor, larger: Tensor, rationed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Run the bracket; return the winner's volume digits, rationed bit and rank digits."""
    pdigits = shape.position_digits
    positions: Tensor = np.array(
        [[(s >> (2 * j)) & 3 for j in range(pdigits)] for s in range(shape.levels)], dtype=np.int64
    )
    first_round = True
    while volume.shape[0] > 1:
        count = volume.shape[0]
        pairs = count // 2
        left, right = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
        # Key: volume descending, then the larger side ascending; equal keys keep the left.
        # As digits, least significant first: 3 - larger, then volume; right wins when greater.
        key_left = concat([3 - larger[left], volume[left]])
        key_right = concat([3 - larger[right], volume[right]])
        bit = exceeds(key_right, key_left).reshape((pairs, 1))
        new_volume = select(bit, volume[right], volume[left])
        new_rationed = select(bit, rationed[right], rationed[left])
        if first_round:
            # Ranks are constants before the first match: a select is then linear.
            new_positions = positions[left] + bit * (positions[right] - positions[left])
        else:
            new_positions = select(bit, positions[right], positions[left])
        final = count == 2
        new_larger = larger if final else select(bit, larger[right], larger[left])
        if count % 2:
            tail = slice(count - 1, count)
            new_volume = concat([new_volume, volume[tail]], axis=0)
            new_rationed = concat([new_rationed, rationed[tail]], axis=0)
            bye = positions[tail]
            if first_round:
                bye = new_positions[0:1] * 0 + bye
            new_positions = concat([new_positions, bye], axis=0)
            new_larger = concat([new_larger, larger[tail]], axis=0)
        volume, rationed, positions, larger = new_volume, new_rationed, new_positions, new_larger
        first_round = False
    return volume[0], rationed[0], positions[0]


def _allocate(
    shape: Shape,
    threshold: Tensor,
    side: Tensor,
    capped: Tensor,
    volume: Tensor,
    buy_rationed: Tensor,
    position: Tensor,
    order: Tensor,
) -> Tensor:
    slots = shape.slots
    code = _winning_codes(shape, threshold, side, buy_rationed, position, order).reshape((slots, 1))
    rationed = lookup(4 * code + capped, 11, lambda v: v % 4 if v // 4 == RATIONED else 0)
    partial, remainders = _ration(shape, rationed, volume)
    # Partial marks the slot that exhausts the volume; the slots before it fill in full.
    within = 1 - np.tril(np.ones((slots, slots), dtype=np.int64)) @ partial
    # code + within >= 2 exactly for the other side and the rationed slots within the volume.
    full_part = lookup(4 * (code + within.reshape((slots, 1))) + capped, 15, lambda v: v % 4 if v >= 8 else 0)
    partial_part = lookup(4 * partial.reshape((slots, 1)) + remainders, 7, lambda v: v % 4 if v >= 4 else 0)
    # At most one of the two is non-zero for a slot, so the sum is a plain digit.
    return full_part + partial_part


def _winning_codes(
    shape: Shape, threshold: Tensor, side: Tensor, buy_rationed: Tensor, position: Tensor, order: Tensor
) -> Tensor:
    """Return per slot ``NONE``, ``RATIONED`` or ``OTHER`` at the winning level."""
    levels = shape.levels
    place = position @ np.array([4**j for j in range(shape.position_digits)], dtype=np.int64)
    fns = np.array([lambda v, s=s: 1 if v == s else 0 for s in range(levels)], dtype=object)
    winner_rank = lookup_each(place + np.zeros((levels,), dtype=np.int64), 4**shape.position_digits - 1, fns)
    winner_level = order @ winner_rank
    if _folds_threshold(shape):
        bound = levels - 1
        level = winner_level @ np.arange(levels, dtype=np.int64)
        value = threshold
        as_buy = lookup(value + (levels - 1 - level), bound + levels - 1, lambda v: 1 if v >= levels - 1 else 0)
        as_sell = lookup(value + level, bound + levels - 1, lambda v: 1 if v >= levels - 1 else 0)
    else:
        tdigits = shape.threshold_digits
        spelled = np.array([[(k >> (2 * j)) & 3 for j in range(tdigits)] for k in range(levels)], dtype=np.int64)
        as_buy = exceeds(threshold, winner_level @ spelled, or_equal=True)
        as_sell = exceeds(threshold, winner_level @ spelled[::-1], or_equal=True)
    index = as_buy + 2 * as_sell + 4 * side + 8 * buy_rationed
    return lookup(index, 15, _winning_code)


def _winning_code(index: int) -> int:
    as_buy, as_sell, side, buy_rationed = index & 1, (index >> 1) & 1, (index >> 2) & 1, index >> 3
    if not (as_buy if side == 0 else as_sell):
        return NONE
    return RATIONED if (side == 0) == (buy_rationed == 1) else OTHER


def _ration(shape: Shape, rationed: Tensor, volume: Tensor) -> tuple[Tensor, Tensor]:
    """Ripple the remaining volume through the slots in priority order.

    Return per slot whether it is the one that exhausts the volume, and the volume remaining
    before it (low ``Q`` digits: for that slot it is less than its quantity). The remainder is
    kept modulo ``4**W``; once it goes negative it stays above ``4**W - N * max_quantity``, so only
    one borrow ever leaves the top digit.
    """
    slots, digits, width = shape.slots, shape.quantity_digits, shape.volume_digits
    # Per digit, 4 - x at the bottom and 3 - x above, where the carry in (1 - borrow) is added.
    offsets = np.array([4] + [3] * (digits - 1), dtype=np.int64) - rationed
    remaining = [volume[j] for j in range(width)]
    partial, remainders = [], []
    for slot in range(slots):
        remainders.append(concat([remaining[j].reshape((1, 1)) for j in range(digits)]))
        carry: Tensor = 0
        for j in range(width):
            total = remaining[j] + offsets[slot, j] if j < digits else remaining[j] + 3
            if j > 0:
                total = total + carry
            carry = lookup(total, 7, lambda v: 1 if v >= 4 else 0)
            remaining[j] = total - 4 * carry
        # No carry out of the top digit: this slot is the one that exhausts the volume.
        partial.append(1 - carry.reshape((1,)))
    return concat(partial, axis=0), concat(remainders, axis=0)
