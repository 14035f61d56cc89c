"""The vectorized engine's array boundary: malformed arrays are refused with a named problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from darkpool.clearing import OrderArrays, clear_arrays, curves, curves_arrays
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from darkpool.errors import ValidationError


def _arrays(**overrides: Any) -> OrderArrays:
    fields: dict[str, Any] = {
        "is_buy": np.array([True, False]),
        "limit_ticks": np.array([10, 9], dtype=np.int64),
        "quantity_lots": np.array([3, 2], dtype=np.int64),
        "priority": np.array([0, 1], dtype=np.int64),
    }
    fields.update(overrides)
    return OrderArrays(**fields)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"quantity_lots": np.array([3, 0], dtype=np.int64)}, "quantity_lots must be at least 1, got 0"),
        ({"quantity_lots": np.array([-5, 2], dtype=np.int64)}, "quantity_lots must be at least 1, got -5"),
        ({"limit_ticks": np.array([10, 9], dtype=np.uint64)}, "limit_ticks must be a 1-D int64 array, got uint64"),
        ({"quantity_lots": np.array([3.0, 2.0])}, "quantity_lots must be a 1-D int64 array, got float64"),
        ({"priority": [0, 1]}, "priority must be a NumPy array, got list"),
        ({"is_buy": np.array([1, 0], dtype=np.int64)}, "is_buy must be a 1-D bool array"),
        ({"priority": np.array([0, 1, 2], dtype=np.int64)}, "priority has 3 entries, expected 2"),
        ({"limit_ticks": np.array([[10, 9]], dtype=np.int64)}, "array of 2 dimensions"),
    ],
)
def test_order_arrays_when_malformed_names_the_problem(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        _arrays(**overrides)
    assert fragment in str(info.value)


def test_clear_arrays_when_no_orders_trades_nothing() -> None:
    empty = np.array([], dtype=np.int64)
    arrays = OrderArrays(np.array([], dtype=np.bool_), empty, empty, empty)
    result = clear_arrays(Round("T", Ticks(0), Ticks(0), 4), arrays)
    assert (result.price_ticks, result.volume_lots, result.fills.tolist()) == (None, 0, [])


@pytest.mark.parametrize("quantity", [3, 2**62])
def test_curves_arrays_when_limits_far_outside_band_equal_reference_curves(quantity: int) -> None:
    round_ = Round("T", Ticks(0), Ticks(-2), 5)
    orders = [
        Order(OrderId("b-low"), Side.BUY, Ticks(-(2**63)), Lots(quantity), 0),
        Order(OrderId("b-high"), Side.BUY, Ticks(2**63 - 1), Lots(quantity), 1),
        Order(OrderId("s-low"), Side.SELL, Ticks(-(2**63)), Lots(quantity), 2),
        Order(OrderId("s-high"), Side.SELL, Ticks(2**63 - 1), Lots(quantity), 3),
        Order(OrderId("s-mid"), Side.SELL, Ticks(0), Lots(quantity), 4),
    ]
    demand, supply = curves_arrays(round_, OrderArrays.from_orders(orders))
    expected = curves(round_, orders)
    assert [int(d) for d in demand] == [c.demand_lots for c in expected]
    assert [int(s) for s in supply] == [c.supply_lots for c in expected]
