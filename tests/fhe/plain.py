"""Run the clearing circuit's code on plain NumPy arrays (no compile): fast breadth checks."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from darkpool.domain import Order, OrderId, Round, RoundResult
from fhe.circuit import clearing_function
from fhe.encoding import order_digits
from fhe.engine import priority_slots, result_from_fills
from fhe.operator import rank_order
from fhe.radix import digits_of
from fhe.shape import Shape, choose_shape


def plain_inputs(
    shape: Shape, round_: Round, orders: Sequence[Order], caps: Mapping[OrderId, int] | None, rng: random.Random
) -> tuple[np.ndarray, ...]:
    """Build the circuit's four arguments exactly as custodian, clients and operator would."""
    masks = np.array([[rng.randrange(4) for _ in range(shape.digits_per_slot)] for _ in range(shape.slots)])
    masked = np.array([[rng.randrange(4) for _ in range(shape.digits_per_slot)] for _ in range(shape.slots)])
    cap_digits = np.zeros((shape.slots, shape.quantity_digits), dtype=np.int64)
    for slot, index in enumerate(priority_slots(orders)):
        order = orders[index]
        masked[slot] = (np.array(order_digits(shape, round_, order)) - masks[slot]) % 4
        cap = shape.max_quantity if caps is None or order.id not in caps else min(caps[order.id], shape.max_quantity)
        cap_digits[slot] = digits_of(max(cap, 0), shape.quantity_digits)
    order_matrix = np.zeros((shape.levels, shape.levels), dtype=np.int64)
    for rank, level in enumerate(rank_order(round_, shape.levels)):
        order_matrix[level, rank] = 1
    return masks, masked, cap_digits, order_matrix


def clear_plain(
    round_: Round,
    orders: Sequence[Order],
    *,
    shape: Shape | None = None,
    caps: Mapping[OrderId, int] | None = None,
    seed: int = 0,
) -> RoundResult:
    """Clear a round with the circuit's code on plain arrays, decoding like the custodian."""
    shape = shape or choose_shape(len(orders), round_.levels, [o.quantity_lots for o in orders])
    args = plain_inputs(shape, round_, orders, caps, random.Random(seed))
    return result_from_outputs(shape, round_, orders, clearing_function(shape)(*args))


def result_from_outputs(
    shape: Shape, round_: Round, orders: Sequence[Order], outputs: Sequence[np.ndarray]
) -> RoundResult:
    """Decode the circuit's outputs (traded, rank, volume, fills, sides) like the custodian."""
    traded, rank, volume, fills, sides = outputs

    def number(digits: np.ndarray) -> int:
        return int(sum(int(d) * 4**j for j, d in enumerate(np.atleast_1d(digits))))

    level = rank_order(round_, shape.levels)[number(rank)] if int(np.asarray(traded).reshape(-1)[0]) else None
    slot_fills = [number(row) for row in fills]
    # The circuit's side output: 0 for a slot that fills nothing, else 1 + the filled order's side.
    slots = priority_slots(orders)
    expected_sides = [0] * shape.slots
    for slot, index in enumerate(slots):
        expected_sides[slot] = 1 + int(orders[index].side) if slot_fills[slot] else 0
    assert [int(code) for code in sides] == expected_sides, (list(sides), expected_sides)
    return result_from_fills(round_, orders, slots, level, number(volume), slot_fills)
