"""The engines' conformance suite on the FHE engine in concrete's simulation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from darkpool.domain import Order, Round, RoundResult
from fhe.engine import run_round
from tests.conformance.suite import EngineConformance
from tests.fhe.conftest import WIDE

pytestmark = pytest.mark.fhe


class TestSimulatedFheEngine(EngineConformance):
    """Every round on one padded shape (8 slots, 8 levels, 15 lots): one compile for the class."""

    generated_rounds: ClassVar[int] = 150
    max_orders: ClassVar[int] = WIDE.slots
    max_levels: ClassVar[int] = WIDE.levels
    max_quantity: ClassVar[int] = WIDE.max_quantity
    cache: ClassVar[Path | None] = None

    @pytest.fixture(autouse=True)
    def _cache(self, fhe_cache: Path) -> Iterator[None]:
        type(self).cache = fhe_cache
        yield

    def clear(self, round_: Round, orders: Sequence[Order]) -> RoundResult:
        return run_round(round_, orders, shape=WIDE, simulate=True, cache_dir=self.cache)


@pytest.mark.slow
class TestSimulatedFheEngineNaturalShapes(EngineConformance):
    """Many rounds, each on the smallest standard shape that holds it (many compiles)."""

    generated_rounds: ClassVar[int] = 200
    cache: ClassVar[Path | None] = None

    @pytest.fixture(autouse=True)
    def _cache(self, fhe_cache: Path) -> Iterator[None]:
        type(self).cache = fhe_cache
        yield

    def clear(self, round_: Round, orders: Sequence[Order]) -> RoundResult:
        return run_round(round_, orders, simulate=True, cache_dir=self.cache)
