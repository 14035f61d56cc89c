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
   lookup per five digits into ``D`` and ``S``.
5. ``volume`` — per level ``[D >= S]`` (a rippled comparison), then ``V = min(D, S)`` and
   ``max(D, S)`` from one select (ties in volume go to the smallest ``max``, the smallest
   ``|D - S|``). When ``D >= S`` the buys are rationed (with ``D = S`` they all fill anyway).
6. ``auction`` — a knock-out bracket over the levels; the key is the volume, then the larger
   side (smaller first), then the tie-break rank (taken from ``order`` as encrypted constants, so
   the clear matrix never multiplies a noisy value). The winner's level digits ride along: they
   are constants before the first match, so its selects are linear.
7. ``allocation`` — each slot's eligibility at the winning level from its threshold, its side and
   the rationed side; the rationed side's remaining volume ``R`` rippled through the slots in time
   priority (``R - x`` per slot, one lookup per digit; the borrow out of the top digit marks the
   slot that exhausts it); full fills and the one partial fill (``R`` before that slot) by lookups.

:func:`slot_stages`, :func:`curve_entries`, :func:`curve_totals` and :func:`settle` are the stages
as building blocks: :mod:`fhe.split` runs the same rule with slot groups on separate workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from concrete import fhe

from fhe.radix import (
    DIGIT_NOISE,
    LOOKUP_NOISE,
    IntArray,
    Tensor,
    add_digits,
    any_nonzero,
    concat,
    exceeds,
    lookup,
    lookup_each,
    select,
    select_pair,
)
from fhe.shape import Shape

__all__ = [
    "ClearingFunction",
    "allocation_threshold",
    "clearing_function",
    "curve_entries",
    "curve_totals",
    "eligible",
    "folds_threshold",
    "settle",
    "slot_stages",
]

ClearingFunction = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any, Any, Any]]

NONE, RATIONED, OTHER = 0, 1, 2
"""A slot at the winning level: not eligible, eligible on the rationed side, on the other side."""


def eligible(levels: int, threshold: int, side: int, level: int) -> bool:
    """Return whether a slot of ``threshold`` and ``side`` (0 buy, 1 sell) trades at ``level``."""
    return threshold >= (level if side == 0 else levels - 1 - level)


def clearing_function(shape: Shape) -> ClearingFunction:
    """Build the clearing function of ``shape`` (traceable by concrete, or runnable on arrays)."""

    def clear_round(masks: Tensor, masked: Tensor, caps: Tensor, order: Tensor) -> tuple[Any, Any, Any, Any, Any]:
        threshold, side, capped, indicators = slot_stages(shape, masks, masked, caps)
        with fhe.tag("curves"):
            demand, supply = curve_totals(shape, curve_entries(shape, indicators, side, capped), noise=3)
        threshold = allocation_threshold(shape, threshold, side, indicators)
        return settle(shape, demand, supply, (threshold, side, capped), order, masks[0:1, 0:1])

    return clear_round


def slot_stages(shape: Shape, masks: Tensor, masked: Tensor, caps: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the per-slot stages (unmask, cap, eligibility); return threshold, side, capped, indicators."""
    with fhe.tag("unmask"):
        threshold, side, quantity = _unmask(shape, masks + masked)
    with fhe.tag("cap"):
        capped = _cap(quantity, caps)
    with fhe.tag("eligibility"):
        indicators = _eligibility(shape, threshold)
    return threshold, side, capped, indicators


def allocation_threshold(shape: Shape, threshold: Tensor, side: Tensor, indicators: Tensor | None) -> Tensor:
    """Return the threshold allocation reads: up to 8 levels the indicators, summed (clamped to L - 1)."""
    if not folds_threshold(shape):
        return threshold
    return side * 0 if indicators is None else np.sum(indicators, axis=1)


def settle(
    shape: Shape,
    demand: Tensor,
    supply: Tensor,
    slots: tuple[Tensor, Tensor, Tensor],
    order: Tensor,
    anchor: Tensor,
) -> tuple[Any, Any, Any, Any, Any]:
    """Run volume, auction, allocation and outputs on the curves and the per-slot values.

    ``slots`` is ``(threshold, side, capped)``, the threshold as :func:`allocation_threshold` gives
    it; ``anchor`` is any encrypted ``1 x 1``.
    """
    threshold, side, capped = slots
    with fhe.tag("volume"):
        volume, larger, buy_rationed = _volumes(demand, supply)
    with fhe.tag("auction"):
        # The order matrix is clear: lifted onto a zero ciphertext, its ranks carry no noise.
        ranks = (anchor * 0 + order) @ _spelled(shape.levels, shape.position_digits)
        volume, buy_rationed, level, rank = _auction(shape, volume, larger, buy_rationed, ranks)
    with fhe.tag("allocation"):
        fills = _allocate(shape, threshold, side, capped, volume, buy_rationed, level)
    with fhe.tag("outputs"):
        # The rank digits are zeroed when nothing trades, so a no-trade round reveals no level.
        traded = any_nonzero(volume, noise=DIGIT_NOISE + _auction_rounds(shape.levels) + 1)
        rank = lookup(4 * traded + rank, 7, lambda v: v % 4 if v >= 4 else 0)
        sides = _fill_sides(shape, fills, side)
    return traded, rank, volume, fills, sides


def _spelled(levels: int, digits: int) -> IntArray:
    """Return the base-4 digits of ``0 .. levels - 1``, one row each."""
    return np.array([[(k >> (2 * j)) & 3 for j in range(digits)] for k in range(levels)], dtype=np.int64)


def _auction_rounds(levels: int) -> int:
    return max(0, (levels - 1).bit_length())


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
    if folds_threshold(shape) and t_digits == 1:
        threshold = summed[:, 0]
    else:
        high = lookup(summed[:, t_digits - 1 : t_digits], 6, lambda v: min(v % 4, top))
        if folds_threshold(shape):
            threshold = summed[:, 0] + 7 * high.reshape((shape.slots,))
        else:
            threshold = concat([lookup(summed[:, : t_digits - 1], 6, lambda v: v % 4), high])
    side = lookup(summed[:, t_digits], 6, lambda v: min(v % 4, 1))
    quantity = lookup(summed[:, t_digits + 1 :], 6, lambda v: v % 4)
    return threshold, side, quantity


def folds_threshold(shape: Shape) -> bool:
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
    if folds_threshold(shape):
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


def curve_entries(shape: Shape, indicators: Tensor | None, side: Tensor, capped: Tensor) -> Tensor:
    """Return each slot's buy and sell digits per level: ``N x 2L x Q`` (demand levels, then supply)."""
    slots, levels, digits = capped.shape[0], shape.levels, shape.quantity_digits
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
    return concat(demand_parts + supply_parts, axis=1)


def curve_totals(shape: Shape, entries: Tensor, *, noise: int) -> tuple[Tensor, Tensor]:
    """Sum per-slot (or per-group) curve digits into ``D`` and ``S`` per level (``L x W`` digits each).

    Slot entries are fresh but for the top sells, a capped digit (2) less a level-0 buy (1): noise 3.
    """
    levels = shape.levels
    totals = add_digits(entries, shape.slots * shape.max_quantity, noise=noise)
    return totals[0:levels], totals[levels : 2 * levels]


def _volumes(demand: Tensor, supply: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    levels = demand.shape[0]
    buy_rationed = exceeds(demand, supply, or_equal=True).reshape((levels, 1))
    smaller, larger = select_pair(buy_rationed, supply, demand)
    return smaller, larger, buy_rationed


def _auction(
    shape: Shape, volume: Tensor, larger: Tensor, rationed: Tensor, ranks: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the bracket; return the winner's volume digits, rationed bit, level digits and rank digits."""
    level: Tensor = _spelled(shape.levels, shape.threshold_digits)
    first_round = True
    while volume.shape[0] > 1:
        count = volume.shape[0]
        pairs = count // 2
        left, right = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
        # Key, least significant digit first: 3 - rank, 3 - larger, volume; the greater key wins.
        # Ranks differ between levels, so no two keys are equal.
        key_left = concat([3 - ranks[left], 3 - larger[left], volume[left]])
        key_right = concat([3 - ranks[right], 3 - larger[right], volume[right]])
        bit = exceeds(key_right, key_left).reshape((pairs, 1))
        new_volume = select(bit, volume[right], volume[left])
        new_rationed = select(bit, rationed[right], rationed[left])
        new_ranks = select(bit, ranks[right], ranks[left])
        if first_round:
            # Levels are constants before the first match: a select is then linear.
            new_level = level[left] + bit * (level[right] - level[left])
        else:
            new_level = select(bit, level[right], level[left])
        final = count == 2
        new_larger = larger if final else select(bit, larger[right], larger[left])
        if count % 2:
            tail = slice(count - 1, count)
            new_volume = concat([new_volume, volume[tail]], axis=0)
            new_rationed = concat([new_rationed, rationed[tail]], axis=0)
            new_ranks = concat([new_ranks, ranks[tail]], axis=0)
            bye = level[tail]
            if first_round:
                bye = new_level[0:1] * 0 + bye
            new_level = concat([new_level, bye], axis=0)
            new_larger = concat([new_larger, larger[tail]], axis=0)
        volume, rationed, ranks, level, larger = new_volume, new_rationed, new_ranks, new_level, new_larger
        first_round = False
    if shape.levels == 1:
        level = volume[0:1, 0:1] * 0 + level
    return volume[0], rationed[0], level[0], ranks[0]


def _allocate(
    shape: Shape,
    threshold: Tensor,
    side: Tensor,
    capped: Tensor,
    volume: Tensor,
    buy_rationed: Tensor,
    level: Tensor,
) -> Tensor:
    slots = shape.slots
    code = _winning_codes(shape, threshold, side, buy_rationed, level).reshape((slots, 1))
    rationed = lookup(4 * code + capped, 11, lambda v: v % 4 if v // 4 == RATIONED else 0)
    partial, remainders = _ration(shape, rationed, volume)
    # Partial marks the slot that exhausts the volume; the slots before it fill in full.
    within = 1 - np.tril(np.ones((slots, slots), dtype=np.int64)) @ partial
    # code + within >= 2 exactly for the other side and the rationed slots within the volume;
    # within sums up to N fresh bits, so it reads at weight one.
    full_part = lookup((code + within.reshape((slots, 1))) + 4 * capped, 15, lambda v: v // 4 if v % 4 >= 2 else 0)
    partial_part = lookup(4 * partial.reshape((slots, 1)) + remainders, 7, lambda v: v % 4 if v >= 4 else 0)
    # At most one of the two is non-zero for a slot, so the sum is a plain digit.
    return full_part + partial_part


def _winning_codes(shape: Shape, threshold: Tensor, side: Tensor, buy_rationed: Tensor, level: Tensor) -> Tensor:
    """Return per slot ``NONE``, ``RATIONED`` or ``OTHER`` at the winning level (digits ``level``)."""
    levels = shape.levels
    if folds_threshold(shape):
        top = levels - 1
        value = level @ np.array([4**j for j in range(shape.threshold_digits)], dtype=np.int64)
        as_buy = lookup((threshold + top) - value, 2 * top, lambda v: 1 if v >= top else 0)
        as_sell = lookup(threshold + value, 2 * top, lambda v: 1 if v >= top else 0)
    else:
        as_buy = exceeds(threshold, level, or_equal=True)
        as_sell = exceeds(threshold, _mirror(shape, level), or_equal=True)
    index = as_buy + 2 * as_sell + 4 * side + 8 * buy_rationed
    return lookup(index, 15, _winning_code)


def _winning_code(index: int) -> int:
    as_buy, as_sell, side, buy_rationed = index & 1, (index >> 1) & 1, (index >> 2) & 1, index >> 3
    if not (as_buy if side == 0 else as_sell):
        return NONE
    return RATIONED if (side == 0) == (buy_rationed == 1) else OTHER


def _mirror(shape: Shape, level: Tensor) -> Tensor:
    """Return the digits of ``L - 1 - level`` (one borrow lookup per digit unless ``L`` is a power of 4)."""
    top = [(shape.levels - 1 >> (2 * j)) & 3 for j in range(shape.threshold_digits)]
    digits: list[Tensor] = []
    carry: Tensor = 1
    for j, c in enumerate(top):
        if all(t == 3 for t in top):
            digits.append((3 - level[j]).reshape((1,)))
            continue
        total = (c + 3 - level[j]) + carry
        carry = lookup(total, 7, lambda v: 1 if v >= 4 else 0)
        digits.append((total - 4 * carry).reshape((1,)))
    return concat(digits)


def _ration(shape: Shape, rationed: Tensor, volume: Tensor) -> tuple[Tensor, Tensor]:
    """Ripple the remaining volume through the slots in priority order.

    Return per slot whether it is the one that exhausts the volume, and the volume remaining
    before it (low ``Q`` digits: for that slot it is less than its quantity). The remainder is
    kept modulo ``4**W``; once it goes negative it stays above ``4**W - N * max_quantity``, so only
    one borrow ever leaves the top digit. Each slot adds noise to the remainder's digits (a carry in
    and 4 times a carry out): when the next slot would take them past :data:`LOOKUP_NOISE`, they are
    looked up afresh.
    """
    slots, digits, width = shape.slots, shape.quantity_digits, shape.volume_digits
    # Per digit, 4 - x at the bottom and 3 - x above, where the carry in (1 - borrow) is added.
    offsets = np.array([4] + [3] * (digits - 1), dtype=np.int64) - rationed
    remaining = [volume[j] for j in range(width)]
    noise = DIGIT_NOISE + _auction_rounds(shape.levels) + 1
    partial, remainders = [], []
    for slot in range(slots):
        if noise + _RATION_NOISE + 16 > LOOKUP_NOISE:
            remaining = [lookup(r, 3, lambda v: v) for r in remaining]
            noise = 1
        remainders.append(concat([remaining[j].reshape((1, 1)) for j in range(digits)]))
        carry: Tensor = 0
        for j in range(width):
            total = remaining[j] + offsets[slot, j] if j < digits else remaining[j] + 3
            if j > 0:
                total = total + carry
            carry = lookup(total, 7, lambda v: 1 if v >= 4 else 0)
            remaining[j] = total - 4 * carry
        noise += _RATION_NOISE
        # No carry out of the top digit: this slot is the one that exhausts the volume.
        partial.append(1 - carry.reshape((1,)))
    return concat(partial, axis=0), concat(remainders, axis=0)


_RATION_NOISE = 18
"""What one slot adds to a remainder digit's noise: its offset, a carry in, 4 times a carry out."""
