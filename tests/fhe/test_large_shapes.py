"""Rounds of 64 slots, 16 levels and 8-bit lots: on plain arrays, simulated and really encrypted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from fhe.engine import run_round
from fhe.shape import MAX_SLOTS, Shape
from tests.conformance.rounds import random_round
from tests.fhe.plain import clear_plain

pytestmark = pytest.mark.fhe

LARGE = Shape(64, 16, 4)
"""64 orders, 16 levels, up to 255 lots: compiled for simulation in the default run."""
LARGEST = Shape(MAX_SLOTS, 16, 4)


def crowded_round(rng: random.Random, slots: int) -> tuple[Round, list[Order]]:
    """A round that fills at least three quarters of ``slots``, limits in and around a 16-level band.

    Quantities are mostly small and sometimes 255, priorities repeat: the rationed side is cut
    part-way, usually in the middle of an order.
    """
    band_low = rng.randint(990, 1010)
    levels = rng.randint(12, 16)
    reference = band_low + rng.randint(-1, levels)
    orders = [
        Order(
            OrderId(f"o{i}"),
            rng.choice((Side.BUY, Side.SELL)),
            Ticks(rng.randint(band_low - 3, band_low + levels + 2)),
            Lots(255 if rng.random() < 0.1 else rng.randint(1, 40)),
            rng.randint(0, slots // 2),
        )
        for i in range(rng.randint(3 * slots // 4, slots))
    ]
    return Round("BIG-PERP", Ticks(reference), Ticks(band_low), levels), orders


@pytest.mark.parametrize("shape", [LARGE, LARGEST] if LARGEST != LARGE else [LARGE])
def test_clear_plain_when_crowded_round_fills_a_large_shape_equals_reference(shape: Shape) -> None:
    rng = random.Random(shape.slots)
    for _ in range(6):
        round_, orders = crowded_round(rng, shape.slots)
        got = clear_plain(round_, orders, shape=shape, seed=rng.randrange(1000))
        assert dump_result(got) == dump_result(clear_reference(round_, orders)), (round_, orders)


def test_clear_when_64_slots_simulated_equals_reference(fhe_cache: Path) -> None:
    rng = random.Random(6416)
    cases = [crowded_round(rng, LARGE.slots) for _ in range(3)]
    cases += [random_round(rng, max_orders=LARGE.slots, max_levels=16, max_quantity=255) for _ in range(2)]
    for round_, orders in cases:
        result = run_round(round_, orders, shape=LARGE, simulate=True, cache_dir=fhe_cache)
        assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)


@pytest.mark.slow
def test_clear_when_largest_shape_simulated_equals_reference(fhe_cache: Path) -> None:
    rng = random.Random(12816)
    for _ in range(2):
        round_, orders = crowded_round(rng, LARGEST.slots)
        result = run_round(round_, orders, shape=LARGEST, simulate=True, cache_dir=fhe_cache)
        assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [LARGE, LARGEST] if LARGEST != LARGE else [LARGE])
def test_clear_when_large_shape_really_encrypted_equals_reference(shape: Shape, fhe_cache: Path) -> None:
    round_, orders = crowded_round(random.Random(shape.slots + 1), shape.slots)
    result = run_round(round_, orders, shape=shape, cache_dir=fhe_cache)
    assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)
