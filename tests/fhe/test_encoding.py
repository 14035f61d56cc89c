"""Client encoding: thresholds, range validation before masking, uniform masked digits."""

from __future__ import annotations

import random

import pytest

from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from darkpool.errors import ShapeError
from fhe.circuit import eligible
from fhe.encoding import SlotMask, encode_order, mask_digits, order_class, order_digits
from fhe.shape import Shape

pytestmark = pytest.mark.fhe

ROUND = Round("ETH-PERP", Ticks(1002), Ticks(1000), 4)
SHAPE = Shape(4, 4, 2)


def _order(side: Side, limit: int, quantity: int = 5) -> Order:
    return Order(OrderId("a"), side, Ticks(limit), Lots(quantity), 0)


@pytest.mark.parametrize("limit", range(996, 1009))
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("shape_levels", [4, 8])
def test_order_class_when_any_limit_eligibility_matches_the_rule(side: Side, limit: int, shape_levels: int) -> None:
    threshold, tradable = order_class(ROUND, _order(side, limit), shape_levels)
    for level in range(ROUND.levels):
        price = ROUND.price_at(level)
        expected = limit >= price if side is Side.BUY else limit <= price
        got = eligible(shape_levels, threshold, int(side), level) and tradable
        assert got == expected, (level, threshold)


def test_order_digits_when_quantity_exceeds_shape_raises_shape_error() -> None:
    with pytest.raises(ShapeError):
        order_digits(SHAPE, ROUND, _order(Side.BUY, 1001, quantity=16))


def test_order_digits_when_round_wider_than_shape_raises_shape_error() -> None:
    wide = Round("ETH-PERP", Ticks(1002), Ticks(1000), 8)
    with pytest.raises(ShapeError):
        order_digits(SHAPE, wide, _order(Side.BUY, 1001))


def test_order_digits_when_never_eligible_sends_quantity_zero() -> None:
    digits = order_digits(SHAPE, ROUND, _order(Side.BUY, 990))
    assert digits[-SHAPE.quantity_digits :] == [0] * SHAPE.quantity_digits


def test_mask_digits_when_mask_length_differs_raises_shape_error() -> None:
    with pytest.raises(ShapeError):
        mask_digits([1, 2, 3], SlotMask("r", 0, (1, 2)))


def test_encode_order_when_masks_are_uniform_masked_digits_are_uniform() -> None:
    rng = random.Random(7)
    order = _order(Side.SELL, 1003, 9)
    counts = [0, 0, 0, 0]
    for _ in range(4000):
        mask = SlotMask("r", 0, tuple(rng.randrange(4) for _ in range(SHAPE.digits_per_slot)))
        for digit in encode_order(SHAPE, ROUND, order, mask).digits:
            counts[digit] += 1
    total = sum(counts)
    assert all(abs(c / total - 0.25) < 0.02 for c in counts), counts
