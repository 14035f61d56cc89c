"""A round split into slot groups (issue 14, deliverable 3): a concrete module, in process and on Ray.

The split module's decrypted outputs must equal the unsplit circuit's (played through the product's
custodian and operator) and the reference engine's, in simulation on random rounds, on a real local
Ray with the groups as separate tasks, and (``slow``) under real encryption.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Order, Round
from darkpool.errors import ShapeError
from fhe.artifacts import CompiledCircuit, compile_circuit
from fhe.circuit import clearing_function
from fhe.custodian import Custodian, decode_digits
from fhe.encoding import SlotMask, encode_order
from fhe.engine import priority_slots
from fhe.operator import Operator
from fhe.shape import Shape
from fhe.split import (
    SplitCircuit,
    SplitEvaluator,
    SplitKeyHolder,
    SplitLayout,
    clear_arguments,
    combine_function,
    compile_split,
    group_function,
    group_inputs,
)
from fhe.transcript import RoundOutputs
from tests.conformance.rounds import random_round, rounds
from tests.environment import ray_already_running
from tests.fhe.plain import plain_inputs, result_from_outputs
from tests.fhe.rounds import play

pytestmark = pytest.mark.fhe

SHAPE = Shape(8, 4, 2)
"""8 orders in two groups of 4, 4 levels, up to 15 lots: compiled in the default run."""
LAYOUT = SplitLayout(SHAPE, 2)


def split_inputs(holder: SplitKeyHolder, round_: Round, orders: Sequence[Order], seed: int) -> tuple[list[bytes], ...]:
    """Play the custodian and the clients for a split round; return ``Enc(R)`` per group and clear args."""
    masks = holder.draw_masks(random.Random(seed))
    submitted = [
        encode_order(SHAPE, round_, orders[index], SlotMask("r", slot, tuple(int(d) for d in masks[slot])))
        for slot, index in enumerate(priority_slots(orders))
    ]
    return (holder.encrypt_masks(masks), *clear_arguments(SHAPE, round_, submitted))


Unsplit = tuple[CompiledCircuit, Custodian]


def unsplit_outputs(unsplit: Unsplit, round_: Round, orders: Sequence[Order], round_id: str) -> RoundOutputs:
    """Clear a round with the unsplit circuit through the product's custodian and operator."""
    circuit, custodian = unsplit
    operator = Operator(circuit, custodian.evaluation_keys, custodian.key_id)
    return custodian.decrypt(play(custodian, operator, round_id, round_, orders))


def sample_rounds(seed: int, count: int) -> list[tuple[Round, list[Order]]]:
    rng = random.Random(seed)
    return [random_round(rng, max_orders=SHAPE.slots, max_levels=SHAPE.levels, max_quantity=15) for _ in range(count)]


@pytest.fixture(scope="module")
def split_sim(fhe_cache: Path) -> SplitCircuit:
    return compile_split(LAYOUT, simulate=True, cache_dir=fhe_cache)


@pytest.fixture(scope="module")
def unsplit_sim(fhe_cache: Path) -> Unsplit:
    circuit = compile_circuit(SHAPE, simulate=True, cache_dir=fhe_cache)
    return circuit, Custodian(circuit)


def test_split_when_run_on_plain_arrays_equals_the_unsplit_function() -> None:
    group, combine, whole = group_function(LAYOUT), combine_function(LAYOUT), clearing_function(SHAPE)
    for round_, orders in sample_rounds(81, 20):
        args = plain_inputs(SHAPE, round_, orders, None, random.Random(len(orders)))
        parts = [group(*cut) for cut in group_inputs(LAYOUT, *args[:3])]
        got = combine(**{f"part{g}": part for g, part in enumerate(parts)}, order=args[3])
        for value, wanted in zip(got, whole(*args), strict=True):
            np.testing.assert_array_equal(np.asarray(value), np.asarray(wanted))
        assert dump_result(result_from_outputs(SHAPE, round_, orders, got)) == dump_result(
            clear_reference(round_, orders)
        )


@pytest.mark.parametrize(
    "layout",
    [SplitLayout(Shape(4, 1, 1), 2), LAYOUT, SplitLayout(Shape(16, 8, 4), 4), SplitLayout(Shape(16, 16, 4), 2)],
    ids=lambda layout: layout.id,
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_split_when_any_round_runs_on_plain_arrays_equals_unsplit(layout: SplitLayout, data: st.DataObject) -> None:
    shape = layout.shape
    round_, orders = data.draw(rounds(max_orders=shape.slots, max_levels=shape.levels, max_quantity=shape.max_quantity))
    args = plain_inputs(shape, round_, orders, None, random.Random(data.draw(st.integers(0, 2**32 - 1))))
    parts = [group_function(layout)(*cut) for cut in group_inputs(layout, *args[:3])]
    got = combine_function(layout)(**{f"part{g}": part for g, part in enumerate(parts)}, order=args[3])
    for value, wanted in zip(got, clearing_function(shape)(*args), strict=True):
        np.testing.assert_array_equal(np.asarray(value), np.asarray(wanted))


def test_split_when_simulated_equals_unsplit_and_reference(split_sim: SplitCircuit, unsplit_sim: Unsplit) -> None:
    holder = SplitKeyHolder(split_sim)
    evaluator = SplitEvaluator(split_sim, holder.evaluation_keys)
    for n, (round_, orders) in enumerate(sample_rounds(82, 5)):
        masks, masked, caps, order = split_inputs(holder, round_, orders, seed=n)
        digits = holder.decrypt_digits(evaluator.evaluate(masks, masked, caps, order))
        got = decode_digits(SHAPE, f"split-{n}", digits)
        wanted = unsplit_outputs(unsplit_sim, round_, orders, f"split-{n}")
        assert got == wanted, (round_, orders)
        result = result_from_outputs(SHAPE, round_, orders, digits)
        assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)


def test_split_when_groups_do_not_divide_the_slots_is_refused() -> None:
    with pytest.raises(ShapeError, match="divide"):
        SplitLayout(SHAPE, 3)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray_already_running()
    root = str(Path(__file__).resolve().parents[2])
    # Workers import this checkout's packages, not whichever one is installed.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = root if not saved else f"{root}{os.pathsep}{saved}"
    try:
        ray.init(num_cpus=2, object_store_memory=1_500 * 2**20, include_dashboard=False, log_to_driver=False)
        yield
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.mark.xdist_group("ray")
def test_split_when_groups_run_as_ray_tasks_equals_unsplit(
    local_ray: None, split_sim: SplitCircuit, unsplit_sim: Unsplit, fhe_cache: Path
) -> None:
    from darkpool.operator.fhe_split_ray import RaySplitEvaluator

    holder = SplitKeyHolder(split_sim)
    evaluator = RaySplitEvaluator(split_sim, holder.evaluation_keys, "sim-keys", cache_dir=fhe_cache)
    for n, (round_, orders) in enumerate(sample_rounds(83, 3)):
        masks, masked, caps, order = split_inputs(holder, round_, orders, seed=n)
        run = evaluator.evaluate(masks, masked, caps, order)
        assert len(run.group_workers) == LAYOUT.groups
        got = holder.decrypt(f"ray-{n}", run.outputs)
        assert got == unsplit_outputs(unsplit_sim, round_, orders, f"ray-{n}"), (round_, orders)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_split_when_ray_times_out_round_after_round_then_this_process_survives_and_evaluates_equal(
    local_ray: None, split_sim: SplitCircuit, unsplit_sim: Unsplit, fhe_cache: Path
) -> None:
    # Timeouts up to the evaluation's length land before, during and after the groups and the combine.
    # Cancelling the combine while it waited on the groups aborted this process within ~60-280 tries.
    from darkpool.operator.fhe_split_ray import RaySplitEvaluator

    ray = pytest.importorskip("ray")
    holder = SplitKeyHolder(split_sim)
    evaluator = RaySplitEvaluator(split_sim, holder.evaluation_keys, "sim-keys", cache_dir=fhe_cache)
    ((round_, orders),) = sample_rounds(85, 1)
    masks, masked, caps, order = split_inputs(holder, round_, orders, seed=0)
    started = time.monotonic()
    evaluator.evaluate(masks, masked, caps, order)
    lasts = time.monotonic() - started
    timed_out, draw = 0, random.Random(85)
    for _ in range(300):
        evaluator._timeout_s = draw.uniform(0.0, 1.2 * lasts)
        try:
            evaluator.evaluate(masks, masked, caps, order)
        except (ray.exceptions.RayError, TimeoutError):
            timed_out += 1
    assert timed_out > 0
    evaluator._timeout_s = 600.0
    got = holder.decrypt("after-timeouts", evaluator.evaluate(masks, masked, caps, order).outputs)
    assert got == unsplit_outputs(unsplit_sim, round_, orders, "after-timeouts")


@pytest.mark.slow
def test_split_when_really_encrypted_equals_unsplit(fhe_cache: Path) -> None:
    circuit = compile_split(LAYOUT, simulate=False, cache_dir=fhe_cache)
    holder = SplitKeyHolder(circuit)
    evaluator = SplitEvaluator(circuit, holder.evaluation_keys)
    unsplit = compile_circuit(SHAPE, simulate=False, cache_dir=fhe_cache)
    custodian = Custodian(unsplit, key_dir=fhe_cache / "split-test-keys")
    for n, (round_, orders) in enumerate(sample_rounds(84, 2)):
        masks, masked, caps, order = split_inputs(holder, round_, orders, seed=n)
        got = holder.decrypt(f"real-{n}", evaluator.evaluate(masks, masked, caps, order))
        assert got == unsplit_outputs((unsplit, custodian), round_, orders, f"real-{n}"), (round_, orders)
        assert got.volume_lots == clear_reference(round_, orders).volume_lots
