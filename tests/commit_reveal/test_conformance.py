"""The shared clearing conformance suite on the whole commit-reveal protocol, and its properties."""

from __future__ import annotations

from hypothesis import given, settings

from commit_reveal import clear_commit_reveal, run_in_process
from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
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


def test_clear_commit_reveal_when_limits_lie_beyond_int64_equals_reference() -> None:
    round_ = Round("TEST-PERP", Ticks(1_000), Ticks(995), 10)
    orders = [
        Order(OrderId("b"), Side.BUY, Ticks(2**80), Lots(5), 0),
        Order(OrderId("s"), Side.SELL, Ticks(-(2**80)), Lots(3), 1),
        Order(OrderId("x"), Side.SELL, Ticks(2**70), Lots(9), 2),
    ]
    assert dump_result(clear_commit_reveal(round_, orders)) == dump_result(clear_reference(round_, orders))
