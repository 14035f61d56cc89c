"""A halted underlying takes no FHE orders: neither a slot reservation nor the order of a slot held before the halt.

The halt is the operator's own journaled decision (:class:`OracleRefused`, what a refused feed answer
journals); the refusal changes nothing in the journal, and a good mark lifts the halt.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from darkpool.operator.events import MarkSet, OracleRefused
from tests.operator.fhe_helpers import BAND_LOW, fhe_world, fund_institutions, open_fhe_round

pytestmark = pytest.mark.fhe


def _halt(core: Any) -> None:
    with core.lock:
        core.accept(OracleRefused("ETH", "ETH feed round 9 answers -1: not a positive price", core.tick(), 9))


def _halting_before_the_order(op: Generator[Any, Any, Any], core: Any) -> Generator[Any, Any, Any]:
    """Pass ``op``'s calls through, halting ETH just before it posts its order (after slot and mask)."""
    step = next(op)
    while True:
        if getattr(step, "path", "").endswith("/orders"):
            _halt(core)
        try:
            step = op.send((yield step))
        except StopIteration as done:
            return done.value


def test_fhe_intake_when_underlying_halted_then_reservation_and_order_refused_until_a_good_mark(
    tmp_path: Path,
) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        rid = open_fhe_round(world)
        core = world.operator_app.state.core
        alpha, beta = (world.client(who) for who in world.people[:2])
        # Beta reserves its slot and fetches its mask; ETH halts before its order arrives.
        with pytest.raises(DarkPoolError, match="halted until a good mark"):
            beta.run(_halting_before_the_order(beta.ops.fhe_order(rid, "ETH-PERP", Side.SELL, BAND_LOW, 3), core))
        assert not world.operator_app.state.core.rounds[rid].orders  # the order was not taken
        kinds = [e.kind for e in core.journal.entries(0)]
        with pytest.raises(DarkPoolError, match="halted until a good mark"):
            alpha.fhe_order(rid, "ETH-PERP", Side.BUY, BAND_LOW + 2, 3)
        assert [e.kind for e in core.journal.entries(0)] == kinds  # refused: nothing journaled
        with core.lock:  # a good mark lifts the halt
            core.accept(MarkSet("ETH", 3000.0, core.tick()))
        alpha.fhe_order(rid, "ETH-PERP", Side.BUY, BAND_LOW + 2, 3)
        assert len(core.rounds[rid].orders) == 1
