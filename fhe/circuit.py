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

Every lookup reads at most 4 bits, so one parameter set serves the whole circuit. Stages, each
an ``fhe.tag`` region so its bootstraps are counted by name:

1. ``unmask`` — ``v = (r + d) mod 4`` per digit, one 3-bit lookup each; the side digit is
   clamped to 0/1 and the top threshold digit to the band, so a malicious client cannot leave
   the tables.
2. ``cap`` — ``min(quantity, cap)`` by a lexicographic digit comparison and a digit select. For
   bands over 8 levels the capped quantity is also split into a buy and a sell share.
3. ``eligibility`` — per slot and level one lookup: bit 0 "eligible as a buy", bit 1 "as a
   sell". Up to 8 levels the lookup reads ``threshold + 8 * side`` and sets only the slot's own
   side's bit; above, it reads the threshold alone and the shares supply the side.
4. ``curves`` — per slot, level and digit, the buy and the sell share where eligible; summed
   over groups of 4 slots, carried, summed over groups and carried again into ``D`` and ``S``.
5. ``volume`` — per level ``min(D, S)`` and ``max(D, S)`` (ties in volume go to the smallest
   ``max``, which is the smallest ``|D - S|``) and whether the buy side is rationed.
6. ``auction`` — a knock-out bracket over levels in rank order; on equal keys the left (better
   ranked) level wins, so rank never has to be compared.
7. ``allocation`` — each slot's eligibility at the winning level, prefix sums of the rationed
   side in time priority, ``fill = min(C_i, V) - min(C_{i-1}, V)`` on the rationed side and the
   whole eligible quantity on the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from concrete import fhe

from fhe.radix import (
    EQ,
    GT,
    LT,
    Tensor,
    any_nonzero,
    combine,
    compare,
    concat,
    lookup,
    lookup_each,
    normalize,
    select,
    subtract_mod,
    take,
)
from fhe.shape import GROUP_SLOTS, Shape

__all__ = ["ClearingFunction", "clearing_function", "eligibility_code"]

ClearingFunction = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any, Any, Any]]

BUY_ELIGIBLE, SELL_ELIGIBLE = 1, 2
_UNFOLDED = {levels: Shape(1, levels, 1, fold=False) for levels in range(1, 17)}


def eligibility_code(shape: Shape, index: int, level: int) -> int:
    """Return how a slot takes part at ``level``: bit 0 as a buy, bit 1 as a sell.

    Without folding ``index`` is the threshold and both bits say what *would* hold for either
    side (the shares pick the side). With folding (``shape.folds_side``) ``index`` is
    ``threshold + 8 * side`` and only the slot's own side's bit can be set.
    """
    if shape.folds_side:
        threshold, side = index % 8, index // 8
        code = eligibility_code(_UNFOLDED[shape.levels], threshold, level)
        return code & (BUY_ELIGIBLE if side == 0 else SELL_ELIGIBLE)
    u = min(index, shape.levels - 1)
    return (BUY_ELIGIBLE if u >= level else 0) | (SELL_ELIGIBLE if u >= shape.levels - 1 - level else 0)


def clearing_function(shape: Shape) -> ClearingFunction:
    """Build the clearing function of ``shape`` (traceable by concrete, or runnable on arrays)."""

    def clear_round(masks: Tensor, masked: Tensor, caps: Tensor, order: Tensor) -> tuple[Any, Any, Any, Any, Any]:
        with fhe.tag("unmask"):
            threshold, side, quantity = _unmask(shape, masks + masked)
        with fhe.tag("cap"):
            capped, buy_share, sell_share = _cap(shape, quantity, side, caps)
        with fhe.tag("eligibility"):
            eligible = _eligibility(shape, threshold, side) @ order
        with fhe.tag("curves"):
            demand, supply = _curves(shape, eligible, buy_share, sell_share)
        with fhe.tag("volume"):
            volume, larger, buy_rationed = _volumes(demand, supply)
        with fhe.tag("auction"):
            volume, buy_rationed, position = _auction(shape, volume, larger, buy_rationed)
        with fhe.tag("allocation"):
            fills = _allocate(shape, eligible, side, capped, volume, buy_rationed, position)
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
    t_digits = shape.threshold_digits
    weights = np.array([4**j for j in range(t_digits)], dtype=np.int64)
    top = shape.top_threshold_digit
    if t_digits > 1:
        low = lookup(summed[:, : t_digits - 1], 6, lambda v: v % 4)
        high = lookup(summed[:, t_digits - 1 : t_digits], 6, lambda v: min(v % 4, top))
        threshold = concat([low, high], axis=1) @ weights
    else:
        threshold = lookup(summed[:, 0], 6, lambda v: min(v % 4, top))
    side = lookup(summed[:, t_digits], 6, lambda v: min(v % 4, 1))
    quantity = lookup(summed[:, t_digits + 1 :], 6, lambda v: v % 4)
    return threshold, side, quantity


def _digit_code(a: int, b: int) -> int:
    return LT if a < b else (GT if a > b else EQ)


def _cap(shape: Shape, quantity: Tensor, side: Tensor, caps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return the capped quantity digits and the buy and sell shares the curves read."""
    # Concrete multiplies no clear value by a constant: lift the caps first (no bootstrap).
    lifted = quantity * 0 + caps
    over = compare(quantity, lifted, result=lambda c: 1 if c == GT else 0)
    slots = quantity.shape[0]
    capped = select(over.reshape((slots, 1)), lifted, quantity)
    if shape.folds_side:
        # The eligibility code already says buy or sell: both lanes read the capped quantity.
        return capped, capped, capped
    index = 4 * side.reshape((slots, 1)) + capped
    buy_share = lookup(index, 7, lambda v: v if v < 4 else 0)
    sell_share = lookup(index, 7, lambda v: v - 4 if v >= 4 else 0)
    return capped, buy_share, sell_share


def _eligibility(shape: Shape, threshold: Tensor, side: Tensor) -> Tensor:
    slots, levels = shape.slots, shape.levels
    fns = np.empty((slots, levels), dtype=object)
    for level in range(levels):
        for slot in range(slots):
            fns[slot, level] = lambda v, k=level: eligibility_code(shape, v, k)
    if shape.folds_side:
        threshold = threshold + 8 * side
    spread = threshold.reshape((slots, 1)) + np.zeros((slots, levels), dtype=np.int64)
    return lookup_each(spread, 15 if shape.folds_side else shape.threshold_bound, fns)


def _curves(shape: Shape, eligible: Tensor, buy_share: Tensor, sell_share: Tensor) -> tuple[Tensor, Tensor]:
    slots, levels, digits = shape.slots, shape.levels, shape.quantity_digits
    code = 4 * eligible.reshape((slots, levels, 1))
    buys = lookup(code + buy_share.reshape((slots, 1, digits)), 15, _eligible_digit(BUY_ELIGIBLE))
    sells = lookup(code + sell_share.reshape((slots, 1, digits)), 15, _eligible_digit(SELL_ELIGIBLE))
    groups = shape.groups
    sums = [
        np.sum(shares[start:stop], axis=0).reshape((1, levels, digits))
        for shares in (buys, sells)
        for start, stop in groups
    ]
    group_size = min(GROUP_SLOTS, slots)
    bound = group_size * shape.max_quantity
    totals = normalize(concat(sums, axis=0), 3 * group_size, _width_for(bound), bound)
    count = len(groups)
    while count > 1:
        # Sum up to 4 groups per side at a time: 4 digits of 3 plus a carry of 3 fit 4 bits.
        chunks = [(start, min(start + 4, count)) for start in range(0, count, 4)]
        bound = min(bound * 4, slots * shape.max_quantity)
        width = _width_for(bound)
        padded = _pad(totals, width)
        columns = [
            np.sum(padded[side * count + start : side * count + stop], axis=0).reshape((1, levels, width))
            for side in (0, 1)
            for start, stop in chunks
        ]
        totals = normalize(concat(columns, axis=0), 3 * max(b - a for a, b in chunks), width, bound)
        count = len(chunks)
    totals = _pad(totals, shape.volume_digits)
    return totals[0], totals[1]


def _eligible_digit(side_bit: int) -> Callable[[int], int]:
    # Folded codes are 0, 1 or 2, so "bit set" and "code equal" agree.
    return lambda v: v % 4 if (v // 4) & side_bit else 0


def _width_for(value: int) -> int:
    width = 1
    while 4**width <= value:
        width += 1
    return width


def _pad(digits: Tensor, width: int) -> Tensor:
    missing = width - digits.shape[-1]
    if missing <= 0:
        return digits
    zero = take(digits, slice(0, 1)) * 0
    return concat([digits] + [zero] * missing)


def _volumes(demand: Tensor, supply: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    levels = demand.shape[0]
    code = compare(demand, supply, result=lambda c: c)
    code = code.reshape((levels, 1))
    at_least = lookup(code, 2, lambda c: 1 if c != LT else 0)
    buy_rationed = lookup(code, 2, lambda c: 1 if c == GT else 0)
    smaller = select(at_least, supply, demand)
    larger = select(at_least, demand, supply)
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
        volume_codes = lookup(4 * volume[left] + volume[right], 15, lambda v: _digit_code(v // 4, v % 4))
        larger_codes = lookup(4 * larger[left] + larger[right], 15, lambda v: _digit_code(v % 4, v // 4))
        right_wins = combine(concat([larger_codes, volume_codes]), result=lambda c: 1 if c == LT else 0)
        bit = right_wins.reshape((pairs, 1))
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
    eligible: Tensor,
    side: Tensor,
    capped: Tensor,
    volume: Tensor,
    buy_rationed: Tensor,
    position: Tensor,
) -> Tensor:
    slots, levels, digits = shape.slots, shape.levels, shape.quantity_digits
    width = shape.volume_digits
    place = position @ np.array([4**j for j in range(shape.position_digits)], dtype=np.int64)
    spread = place + np.zeros((levels,), dtype=np.int64)
    fns = np.array([lambda v, s=s: 1 if v == s else 0 for s in range(levels)], dtype=object)
    winner = lookup_each(spread, 4**shape.position_digits - 1, fns)
    picked = lookup(4 * winner.reshape((1, levels)) + eligible, 7, lambda v: v % 4 if v >= 4 else 0)
    # Per slot: eligible at the winning level on the rationed side, or on the other side.
    index = np.sum(picked, axis=1) + 4 * side + 8 * buy_rationed
    on_rationed = lookup(index, 15, lambda v: _on_side(v, rationed=True)).reshape((slots, 1))
    on_other = lookup(index, 15, lambda v: _on_side(v, rationed=False)).reshape((slots, 1))
    rationed = lookup(4 * on_rationed + capped, 7, lambda v: v % 4 if v >= 4 else 0)
    other = lookup(4 * on_other + capped, 7, lambda v: v % 4 if v >= 4 else 0)

    cumulative = _prefix_sums(shape, rationed)
    within = compare(cumulative, volume.reshape((1, width)), result=lambda c: 1 if c != GT else 0)
    low = volume[0:digits].reshape((1, digits))
    if slots > 1:
        previous = cumulative[0 : slots - 1, 0:digits]
        remainder = concat([low, subtract_mod(low + 0 * previous, previous)], axis=0)
    else:
        remainder = low
    shift = np.eye(slots, k=-1, dtype=np.int64)
    first = np.zeros((slots,), dtype=np.int64)
    first[0] = 1
    partial = (shift @ within + first) - within
    full_part = lookup(4 * within.reshape((slots, 1)) + rationed, 7, lambda v: v % 4 if v >= 4 else 0)
    partial_part = lookup(4 * partial.reshape((slots, 1)) + remainder, 7, lambda v: v % 4 if v >= 4 else 0)
    # At most one of the three is non-zero for a slot, so the sum is a plain digit.
    return full_part + partial_part + other


def _on_side(index: int, *, rationed: bool) -> int:
    code, side, buy_rationed = index % 4, (index // 4) % 2, index // 8
    eligible = bool(code & (BUY_ELIGIBLE if side == 0 else SELL_ELIGIBLE))
    is_rationed_side = (side == 0) == (buy_rationed == 1)
    return 1 if eligible and is_rationed_side == rationed else 0


def _prefix_sums(shape: Shape, quantity: Tensor) -> Tensor:
    """Return normalized prefix sums of per-slot digit tensors, in slot (priority) order.

    Within each group of 4 slots the prefix columns are carried directly; later groups then add
    the running total of the groups before them (a sequential carry over groups).
    """
    slots, width = shape.slots, shape.volume_digits
    groups = shape.groups
    block = np.zeros((slots, slots), dtype=np.int64)
    for start, stop in groups:
        for i in range(start, stop):
            block[i, start : i + 1] = 1
    group_bound = min(GROUP_SLOTS, slots) * shape.max_quantity
    local = normalize(block @ quantity, 3 * min(GROUP_SLOTS, slots), _width_for(group_bound), group_bound)
    local = _pad(local, width)
    if len(groups) == 1:
        return local
    parts = [local[groups[0][0] : groups[0][1]]]
    offset = local[groups[0][1] - 1 : groups[0][1]]
    for start, stop in groups[1:]:
        part = normalize(local[start:stop] + offset, 6, width, stop * shape.max_quantity)
        parts.append(part)
        offset = part[stop - start - 1 : stop - start]
    return concat(parts, axis=0)
