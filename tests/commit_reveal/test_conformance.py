"""The shared clearing conformance suite on the whole commit-reveal protocol, and its properties."""

from __future__ import annotations

from hypothesis import given, settings

from commit_reveal import clear_commit_reveal, run_in_process
from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Order, Round
from tests.commit_reveal.helpers import seeded_randbytes
from tests.conformance.rounds import rounds
from tests.conformance.suite import EngineConformance


class TestCommitRevealEngine(EngineConformance):
    engine = staticmethod(clear_commit_reveal)
    generated_rounds = 150


@settings(max_examples=25)
@given(rounds(max_orders=12))
def test_run_in_process_when_any_round_publishes_a_replayable_round(case: tuple[Round, list[Order]]) -> None:
    round_, orders = case
    run = run_in_process(round_, orders, randbytes=seeded_randbytes(len(orders)))
    assert dump_result(run.result) == dump_result(clear_reference(round_, orders))
    assert run.publication["document"]["orders"] == [
        {"id": o.id, "side": o.side.label, "limit_ticks": o.limit_ticks, "quantity_lots": o.quantity_lots,
         "priority": o.priority} for o in orders
    ]
