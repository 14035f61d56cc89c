"""Client-side encoding: an order becomes masked base-4 digits for one circuit slot.

Limits matter only through the band levels at which an order is eligible, and those form a
prefix (a buy: levels ``0..t``) or a suffix (a sell: levels ``t..L-1``) of the band. An order
is sent as its *threshold* ``u``, its side and its quantity, where

- a buy eligible up to level ``t`` has ``u = t`` (eligible at ``k`` iff ``u >= k``);
- a sell eligible from level ``t`` has ``u = L - 1 - t`` (eligible at ``k`` iff ``u >= L-1-k``);
- an order eligible at no level (a buy below the band, a sell above it) is sent with quantity
  0, which trades and weighs exactly like an ineligible order.

``L`` is the shape's level count; a band smaller than the shape is padded with levels above
it, where buys never reach (a buy's threshold stops at the band's top), so no volume appears.
Each digit is masked with the slot's mask digit: ``d = (v - r) mod 4``. Every ``d`` is uniform
whatever the order, so the operator learns nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from darkpool.domain import Order, Round, Side
from darkpool.errors import ShapeError
from fhe.shape import Shape

__all__ = ["MaskedOrder", "SlotMask", "encode_order", "mask_digits", "order_class", "order_digits"]


@dataclass(frozen=True, slots=True)
class SlotMask:
    """The custodian's mask digits for one slot of one round, given only to that slot's client."""

    round_id: str
    slot: int
    digits: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MaskedOrder:
    """What a client sends the operator: its slot and its masked digits, in the clear."""

    round_id: str
    slot: int
    digits: tuple[int, ...]


def order_class(round_: Round, order: Order, shape_levels: int) -> tuple[int, bool]:
    """Return the order's threshold ``u`` for a shape of ``shape_levels`` levels, and whether
    it is eligible at any band level."""
    band = round_.levels
    offset = round_.band_offset(order.limit_ticks)
    if order.side is Side.BUY:
        if offset < 0:
            return 0, False
        return min(offset, band - 1), True
    if offset >= band:
        return 0, False
    return shape_levels - 1 - max(offset, 0), True


def order_digits(shape: Shape, round_: Round, order: Order) -> list[int]:
    """Return the order's plain digits (threshold, side, quantity; least significant first).

    Raise :class:`ShapeError` when the round or the quantity does not fit ``shape``; checked
    before any masking, so nothing out of range is ever sent.
    """
    if round_.levels > shape.levels:
        raise ShapeError(f"order {order.id}: round has {round_.levels} levels, circuit {shape.levels}")
    if not 1 <= order.quantity_lots <= shape.max_quantity:
        raise ShapeError(
            f"order {order.id}: quantity must be in 1..{shape.max_quantity} lots for shape {shape.id}, "
            f"got {order.quantity_lots}"
        )
    threshold, tradable = order_class(round_, order, shape.levels)
    quantity = order.quantity_lots if tradable else 0
    digits = [(threshold >> (2 * j)) & 3 for j in range(shape.threshold_digits)]
    digits.append(int(order.side))
    digits += [(quantity >> (2 * j)) & 3 for j in range(shape.quantity_digits)]
    return digits


def mask_digits(digits: list[int], mask: SlotMask) -> tuple[int, ...]:
    """Return ``(v - r) mod 4`` digit by digit."""
    if len(digits) != len(mask.digits):
        raise ShapeError(f"slot {mask.slot}: expected {len(mask.digits)} digits, got {len(digits)}")
    return tuple((v - r) % 4 for v, r in zip(digits, mask.digits, strict=True))


def encode_order(shape: Shape, round_: Round, order: Order, mask: SlotMask) -> MaskedOrder:
    """Encode and mask one order for its slot: what the client submits."""
    return MaskedOrder(mask.round_id, mask.slot, mask_digits(order_digits(shape, round_, order), mask))
