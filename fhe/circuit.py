"""The clearing circuit: DESIGN.md §2 over encrypted order slots, in radix-4 digits.

Inputs (``N`` slots, ``L`` levels, ``Q`` quantity digits, ``X`` class digits, ``K = X + Q``):

- ``masks`` (encrypted, ``N x K``): the custodian's per-round digit masks ``R``;
- ``masked`` (clear, ``N x K``): each client's digits ``d = (v - r) mod 4``;
- ``caps`` (clear, ``N x Q``): each slot's quantity cap in digits; ``0`` switches a slot off;
- ``order`` (clear, ``L x L``): ``order[k, s] = 1`` when level ``k`` has tie-break rank ``s``
  (closest to the reference first, then lower price) — public, so the circuit never compares it.

Outputs, the only values ever decrypted: the clearing rank plus one (``0``: nothing trades), the
volume, and every slot's fill.

Stages, each an ``fhe.tag`` region so its bootstraps are counted by name:

1. ``unmask`` — ``v = (r + d) mod 4`` per digit; the top class digit is clamped so a malicious
   client cannot leave the class table; each quantity digit is also compared with its cap digit.
2. ``cap`` — ``min(quantity, cap)`` by a lexicographic digit comparison and a digit select.
3. ``eligibility`` — per slot and level, one lookup of the class: 0 none, 1 buy, 2 sell.
4. ``curves`` — per slot, level and digit, the buy and the sell share of the capped quantity;
   summed over groups of 8 slots and carried into demand and supply digits per level.
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

ClearingFunction = Callable[[Any, Any, Any, Any], tuple[Any, Any, Any, Any]]

NONE, BUY, SELL = 0, 1, 2


def eligibility_code(shape: Shape, class_value: int, level: int) -> int:
    """Return how an order of class ``class_value`` takes part at ``level``: 0 none, 1 buy, 2 sell."""
    levels = shape.levels
    if class_value < levels:
        return BUY if level <= class_value else NONE
    if class_value < 2 * levels:
        return SELL if level >= class_value - levels else NONE
    return NONE


def clearing_function(shape: Shape) -> ClearingFunction:
    """Build the clearing function of ``shape`` (traceable by concrete, or runnable on arrays)."""

    def clear_round(masks: Tensor, masked: Tensor, caps: Tensor, order: Tensor) -> tuple[Any, Any, Any, Any]:
        with fhe.tag("unmask"):
            classes, quantity, over_cap_codes = _unmask(shape, masks + masked, caps)
        with fhe.tag("cap"):
            capped = _cap(quantity, over_cap_codes, caps)
        with fhe.tag("eligibility"):
            eligible = _eligibility(shape, classes) @ order
        with fhe.tag("curves"):
            demand, supply = _curves(shape, eligible, capped)
        with fhe.tag("volume"):
            volume, larger, buy_rationed = _volumes(demand, supply)
        with fhe.tag("auction"):
            volume, buy_rationed, position = _auction(shape, volume, larger, buy_rationed)
        with fhe.tag("allocation"):
            fills = _allocate(shape, eligible, capped, volume, buy_rationed, position)
        with fhe.tag("outputs"):
            # Outputs stay in digits: a wide output sum would widen the encoding (and the keys)
            # of every lookup feeding it. The rank digits are zeroed when nothing trades, so a
            # no-trade round reveals no level.
            width = shape.volume_digits
            traded = lookup(np.sum(volume), 3 * width, lambda v: 1 if v else 0)
            gated = 16 * traded + position @ np.array([4**j for j in range(shape.position_digits)])
            fns = np.array(
                [lambda v, j=j: ((v % 16) >> (2 * j)) & 3 if v >= 16 else 0 for j in range(shape.position_digits)],
                dtype=object,
            )
            spread = gated + np.zeros((shape.position_digits,), dtype=np.int64)
            rank = lookup_each(spread, 31, fns)
        return traded, rank, volume, fills

    return clear_round


def _unmask(shape: Shape, summed: Tensor, caps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    x_digits = shape.class_digits
    top = shape.top_class_digit
    weights = np.array([4**j for j in range(x_digits)], dtype=np.int64)
    low = lookup(summed[:, : x_digits - 1], 6, lambda v: v % 4) if x_digits > 1 else None
    high = lookup(summed[:, x_digits - 1 : x_digits], 6, lambda v: min(v % 4, top))
    class_digits = high if low is None else concat([low, high], axis=1)
    classes = class_digits @ weights
    raw = summed[:, x_digits:]
    quantity = lookup(raw, 6, lambda v: v % 4)
    # Fused with the unmasking: compare the quantity digit with the (clear) cap digit.
    # Concrete multiplies no clear value by a constant: lift the caps first (no bootstrap).
    lifted = raw * 0 + caps
    over_cap_codes = lookup(raw + 8 * lifted, 30, lambda v: _digit_code((v % 8) % 4, v // 8))
    return classes, quantity, over_cap_codes


def _digit_code(a: int, b: int) -> int:
    return LT if a < b else (GT if a > b else EQ)


def _cap(quantity: Tensor, codes: Tensor, caps: Tensor) -> Tensor:
    over = combine(codes, result=lambda c: 1 if c == GT else 0)
    slots = quantity.shape[0]
    return select(over.reshape((slots, 1)), caps + 0 * quantity, quantity)


def _eligibility(shape: Shape, classes: Tensor) -> Tensor:
    slots, levels = shape.slots, shape.levels
    fns = np.empty((slots, levels), dtype=object)
    for level in range(levels):
        for slot in range(slots):
            fns[slot, level] = lambda v, k=level: eligibility_code(shape, v, k)
    spread = classes.reshape((slots, 1)) + np.zeros((slots, levels), dtype=np.int64)
    return lookup_each(spread, shape.class_bound, fns)


def _curves(shape: Shape, eligible: Tensor, capped: Tensor) -> tuple[Tensor, Tensor]:
    slots, levels, digits = shape.slots, shape.levels, shape.quantity_digits
    index = 4 * eligible.reshape((slots, levels, 1)) + capped.reshape((slots, 1, digits))
    buys = lookup(index, 11, lambda v: v % 4 if v // 4 == BUY else 0)
    sells = lookup(index, 11, lambda v: v % 4 if v // 4 == SELL else 0)
    width = shape.volume_digits
    sums = []
    for start, stop in shape.groups:
        sums.append(np.sum(buys[start:stop], axis=0).reshape((1, levels, digits)))
        sums.append(np.sum(sells[start:stop], axis=0).reshape((1, levels, digits)))
    group_size = min(GROUP_SLOTS, slots)
    group_bound = group_size * shape.max_quantity
    grouped = normalize(concat(sums, axis=0), 3 * group_size, _width_for(group_bound), group_bound)
    count = len(shape.groups)
    if count == 1:
        totals = grouped
    else:
        per_side = [grouped[g::2] for g in range(2)]
        columns = concat([np.sum(side, axis=0).reshape((1, levels, grouped.shape[-1])) for side in per_side], 0)
        totals = normalize(columns, 3 * count, width, slots * shape.max_quantity)
    totals = _pad(totals, width)
    return totals[0], totals[1]


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
    shape: Shape, eligible: Tensor, capped: Tensor, volume: Tensor, buy_rationed: Tensor, position: Tensor
) -> Tensor:
    slots, levels, digits = shape.slots, shape.levels, shape.quantity_digits
    width = shape.volume_digits
    place = position @ np.array([4**j for j in range(shape.position_digits)], dtype=np.int64)
    spread = place + np.zeros((levels,), dtype=np.int64)
    fns = np.array([lambda v, s=s: 1 if v == s else 0 for s in range(levels)], dtype=object)
    winner = lookup_each(spread, max(levels - 1, 1), fns)
    picked = lookup(4 * winner.reshape((1, levels)) + eligible, 6, lambda v: v % 4 if v >= 4 else 0)
    code = np.sum(picked, axis=1).reshape((slots, 1))
    index = capped + 4 * code + 12 * buy_rationed
    rationed = lookup(index, 23, lambda v: _share(v, rationed=True))

    cumulative = _prefix_sums(shape, rationed)
    within = compare(cumulative, volume.reshape((1, width)), result=lambda c: 1 if c != GT else 0)
    previous = cumulative[0 : slots - 1, 0:digits]
    remainder_rest = subtract_mod(volume[0:digits].reshape((1, digits)) + 0 * previous, previous)
    remainder = concat([volume[0:digits].reshape((1, digits)), remainder_rest], axis=0) if slots > 1 else (
        volume[0:digits].reshape((1, digits))
    )
    shift = np.eye(slots, k=-1, dtype=np.int64)
    first = np.zeros((slots,), dtype=np.int64)
    first[0] = 1
    before = shift @ within + first
    partial = before - within
    gate = lambda v: v % 4 if v >= 4 else 0  # noqa: E731
    full_part = lookup(4 * within.reshape((slots, 1)) + rationed, 7, gate)
    partial_part = lookup(4 * partial.reshape((slots, 1)) + remainder, 7, gate)
    other_part = lookup(index, 23, lambda v: _share(v, rationed=False))
    # At most one of the three is non-zero for a slot, so the sum is a plain digit.
    return full_part + partial_part + other_part


def _share(index: int, *, rationed: bool) -> int:
    digit, code, buy_rationed = index % 4, (index // 4) % 3, index // 12
    if code == NONE:
        return 0
    on_rationed_side = (code == BUY) == (buy_rationed == 1)
    return digit if on_rationed_side == rationed else 0


def _prefix_sums(shape: Shape, quantity: Tensor) -> Tensor:
    """Return normalized prefix sums of per-slot digit tensors, in slot (priority) order."""
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
