"""The circuit's code, run on plain arrays, against the reference engine over every shape."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Lots, Order
from fhe.shape import Shape
from tests.conformance.rounds import random_round, rounds
from tests.fhe.plain import clear_plain

pytestmark = pytest.mark.fhe


@settings(max_examples=150, deadline=None)
@given(rounds(max_orders=32, max_levels=16, max_quantity=255), st.integers(0, 2**32 - 1))
def test_clear_plain_when_any_round_equals_reference(case: tuple, seed: int) -> None:
    round_, orders = case
    assert dump_result(clear_plain(round_, orders, seed=seed)) == dump_result(clear_reference(round_, orders))


def test_clear_plain_when_seeded_rounds_of_every_size_equals_reference() -> None:
    rng = random.Random(20261124)
    for _ in range(300):
        quantity = rng.choice((3, 15, 255))
        round_, orders = random_round(rng, max_orders=32, max_levels=16, max_quantity=quantity)
        assert dump_result(clear_plain(round_, orders, seed=rng.randrange(2**32))) == dump_result(
            clear_reference(round_, orders)
        ), (round_, orders)


@settings(max_examples=80, deadline=None)
@given(rounds(max_orders=16, max_levels=16, max_quantity=255), st.data())
def test_clear_plain_when_caps_apply_equals_reference_on_capped_quantities(case: tuple, data: st.DataObject) -> None:
    round_, orders = case
    caps = {o.id: data.draw(st.integers(0, 300)) for o in orders if data.draw(st.booleans())}
    capped = [
        Order(o.id, o.side, o.limit_ticks, Lots(min(o.quantity_lots, caps.get(o.id, o.quantity_lots))), o.priority)
        for o in orders
        if caps.get(o.id, 1) > 0
    ]
    expected = clear_reference(round_, capped)
    fills = {o.id: expected.fills.get(o.id, 0) for o in orders}
    got = clear_plain(round_, orders, caps=caps)
    assert (got.price_ticks, got.volume_lots, got.fills) == (expected.price_ticks, expected.volume_lots, fills)


@pytest.mark.parametrize(
    "shape", [Shape(32, 16, 4), Shape(16, 1, 1), Shape(4, 2, 2), Shape(8, 8, 2), Shape(4, 4, 1)]
)
def test_clear_plain_when_round_padded_into_larger_shape_equals_reference(shape: Shape) -> None:
    rng = random.Random(shape.slots * 100 + shape.levels)
    for _ in range(40):
        round_, orders = random_round(
            rng, max_orders=min(shape.slots, 16), max_levels=shape.levels, max_quantity=shape.max_quantity
        )
        got = clear_plain(round_, orders, shape=shape, seed=rng.randrange(1000))
        assert dump_result(got) == dump_result(clear_reference(round_, orders)), (round_, orders)
