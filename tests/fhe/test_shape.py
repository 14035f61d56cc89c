"""Shapes: the smallest standard shape that holds a round, or a clear ShapeError."""

from __future__ import annotations

import pytest

from darkpool.errors import ShapeError
from fhe.shape import MAX_LEVELS, MAX_SLOTS, Shape, choose_shape

pytestmark = pytest.mark.fhe


@pytest.mark.parametrize(
    ("orders", "levels", "largest", "expected"),
    [
        (0, 1, 1, Shape(4, 1, 1)),
        (5, 3, 3, Shape(8, 4, 1)),
        (16, 16, 255, Shape(16, 16, 4)),
        (17, 9, 16, Shape(32, 16, 4)),
        (33, 16, 255, Shape(64, 16, 4)),
        (2, 2, 15, Shape(4, 2, 2)),
    ],
)
def test_choose_shape_when_round_fits_returns_smallest_standard_shape(
    orders: int, levels: int, largest: int, expected: Shape
) -> None:
    assert choose_shape(orders, levels, [largest] * max(orders, 1)) == expected


@pytest.mark.parametrize(
    ("orders", "levels", "largest"),
    [(MAX_SLOTS + 1, 4, 1), (4, MAX_LEVELS + 1, 1), (4, 4, 256)],
)
def test_choose_shape_when_round_exceeds_every_shape_raises_shape_error(orders: int, levels: int, largest: int) -> None:
    with pytest.raises(ShapeError):
        choose_shape(orders, levels, [largest])


def test_shape_when_sizes_out_of_range_raises_shape_error() -> None:
    with pytest.raises(ShapeError):
        Shape(0, 4, 1)
    with pytest.raises(ShapeError):
        Shape(4, 4, 5)


@pytest.mark.parametrize(("count", "levels", "quantity"), [(MAX_SLOTS + 1, 4, 1), (4, 17, 1), (4, 4, 256)])
def test_clear_fhe_when_round_exceeds_supported_shapes_raises_shape_error(
    count: int, levels: int, quantity: int
) -> None:
    from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
    from fhe import clear_fhe

    round_ = Round("ETH-PERP", Ticks(100), Ticks(100), levels)
    orders = [Order(OrderId(f"o{i}"), Side.BUY, Ticks(100), Lots(quantity), i) for i in range(count)]
    with pytest.raises(ShapeError):
        clear_fhe(round_, orders, simulate=True)
