"""The clearing conformance suite: one class, subclassed once per engine.

A subclass sets ``engine`` (a ``clear(round, orders) -> RoundResult`` callable) and may lower
``generated_rounds`` or the generator bounds for slow engines. Every case compares with either
a hand-computed expectation (from DESIGN.md §2, worked out on paper) or the reference engine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from darkpool.clearing import clear_reference, dump_result, parse_round
from darkpool.domain import Order, Round, RoundResult, Side
from tests.conformance.rounds import random_round

Engine = Callable[[Round, Sequence[Order]], RoundResult]

VECTORS = Path(__file__).parent.parent / "vectors" / "rounds.json"


def _vector_cases() -> list[Any]:
    cases = json.loads(VECTORS.read_text())
    return [pytest.param(case, id=case["name"]) for case in cases]


def check_invariants(round_: Round, orders: Sequence[Order], result: RoundResult) -> None:
    """The properties every clearing result has, whatever the engine."""
    assert list(result.fills) == [o.id for o in orders]
    buy = sum(result.fills[o.id] for o in orders if o.side is Side.BUY)
    sell = sum(result.fills[o.id] for o in orders if o.side is Side.SELL)
    assert buy == sell == result.volume_lots
    for o in orders:
        assert 0 <= result.fills[o.id] <= o.quantity_lots
    if result.price_ticks is None:
        assert result.volume_lots == 0
        return
    assert round_.band_low_ticks <= result.price_ticks <= round_.band_high_ticks
    for o in orders:
        eligible = o.limit_ticks >= result.price_ticks if o.side is Side.BUY else o.limit_ticks <= result.price_ticks
        if not eligible:
            assert result.fills[o.id] == 0
    for level in range(round_.levels):
        price = round_.price_at(level)
        demand = sum(o.quantity_lots for o in orders if o.side is Side.BUY and o.limit_ticks >= price)
        supply = sum(o.quantity_lots for o in orders if o.side is Side.SELL and o.limit_ticks <= price)
        assert min(demand, supply) <= result.volume_lots


class EngineConformance:
    """Subclass and set ``engine``; every test below then runs against it."""

    engine: ClassVar[staticmethod[[Round, Sequence[Order]], RoundResult]]
    generated_rounds: ClassVar[int] = 300
    max_orders: ClassVar[int] = 16
    max_levels: ClassVar[int] = 16
    max_quantity: ClassVar[int] = 255
    seed: ClassVar[int] = 20261124

    def clear(self, round_: Round, orders: Sequence[Order]) -> RoundResult:
        return type(self).engine(round_, orders)

    @pytest.mark.parametrize("case", _vector_cases())
    def test_clear_when_hand_computed_vector_matches_expected(self, case: dict[str, Any]) -> None:
        round_, orders = parse_round(case["input"])
        result = self.clear(round_, orders)
        assert json.loads(dump_result(result)) == case["expected"]

    def test_clear_when_generated_rounds_equals_reference_engine(self) -> None:
        rng = random.Random(self.seed)
        for _ in range(self.generated_rounds):
            round_, orders = random_round(
                rng, max_orders=self.max_orders, max_levels=self.max_levels, max_quantity=self.max_quantity
            )
            result = self.clear(round_, orders)
            assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)
            check_invariants(round_, orders, result)
