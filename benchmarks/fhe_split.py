"""One large FHE round split into slot groups on Ray: JSON lines ``{"metric", "value", "unit", ...}``.

All real encryption, one crowded round, in one run:

- ``fhe_unsplit_round_seconds`` (the baseline): the unsplit circuit evaluated by the product's
  operator in this process;
- ``fhe_split_round_seconds``: a split round as the product runs it (``fhe_split_groups = G`` with
  ``fhe_backend = ray``): the split custodian's ``Enc(R)`` per group, the operator's evaluation with
  its ``G`` group tasks and the combine task on a local Ray (this machine's cores), the custodian's
  decryption; after a first round that loads artifact and keys into the workers;
- ``fhe_split_stage_seconds``: each function of the split evaluated alone, in this process (concrete
  spreads one evaluation over the cores) and on one Ray worker (one CPU, one thread);
- ``fhe_split_bootstraps``: bootstraps per function and stage, next to the unsplit circuit's;
- ``fhe_split_round_seconds_on_paper``: the round on ``W`` one-CPU workers from the stage seconds
  measured on one: the groups in ``ceil(G / W)`` waves (each as long as its slowest group), then
  the combine (hand-over of ciphertexts included, as measured).

Every split round's decrypted outputs are checked equal to the unsplit round's. The unsplit round
runs first and last; the faster of the two is the baseline (the machine may be shared).
``--large``: 64 orders, 16 levels, 255 lots (the default is 16 orders, 8 levels, 255 lots).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.modules.pop("fhe", None)
sys.path.insert(0, os.path.dirname(_HERE))

from benchmarks._common import emit  # noqa: E402
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks  # noqa: E402
from fhe.artifacts import compile_circuit  # noqa: E402
from fhe.custodian import Custodian  # noqa: E402
from fhe.encoding import SlotMask, encode_order  # noqa: E402
from fhe.engine import priority_slots  # noqa: E402
from fhe.operator import Operator  # noqa: E402
from fhe.shape import Shape  # noqa: E402
from fhe.split import (  # noqa: E402
    SplitEvaluator,
    SplitKeyHolder,
    SplitLayout,
    bootstrap_counts,
    clear_arguments,
    compile_split,
)
from fhe.split_roles import SplitCustodian, split_operator, unpack_masks  # noqa: E402

WORKERS = (1, 2, 4, 8)


def crowded_round(rng: random.Random, shape: Shape) -> tuple[Round, list[Order]]:
    """A round filling every slot, limits in and around the band: the rationed side is cut part-way."""
    band_low = 1000
    reference = band_low + shape.levels // 2
    orders = [
        Order(OrderId(f"o{i}"), rng.choice((Side.BUY, Side.SELL)),
              Ticks(rng.randint(band_low - 2, band_low + shape.levels + 1)),
              Lots(shape.max_quantity if rng.random() < 0.1 else rng.randint(1, 40)), rng.randint(0, shape.slots))
        for i in range(shape.slots)
    ]
    return Round("BENCH-PERP", Ticks(reference), Ticks(band_low), shape.levels), orders


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="64 orders, 16 levels (default 16 orders, 8 levels)")
    parser.add_argument("--groups", type=int, default=2, help="slot groups (divides the slot count)")
    parser.add_argument("--skip-in-process", action="store_true",
                        help="time the functions on Ray workers only (the in-process pass repeats them)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="circuit cache (default: a temporary one)")
    args = parser.parse_args()
    shape = Shape(64, 16, 4) if args.large else Shape(16, 8, 4)
    layout = SplitLayout(shape, args.groups)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="fhe-split-"))
    common = {"shape": shape.id, "groups": layout.groups}
    round_, orders = crowded_round(random.Random(14), shape)

    # The baseline: the unsplit circuit through the product's custodian and operator.
    circuit = compile_circuit(shape, simulate=False, cache_dir=cache)
    custodian = Custodian(circuit, key_dir=cache / "unsplit-keys")
    operator = Operator(circuit, custodian.evaluation_keys, custodian.key_id)

    def unsplit_round(round_id: str) -> tuple[Any, float]:
        operator.begin(round_id, round_, custodian.open_round(round_id))
        for slot, index in enumerate(priority_slots(orders)):
            operator.submit(encode_order(shape, round_, orders[index], custodian.issue_mask(round_id, slot)))
        request, seconds = timed(operator.evaluate, round_id)
        return custodian.decrypt(request), seconds

    wanted, unsplit_seconds = unsplit_round("unsplit")
    emit("fhe_unsplit_round_seconds", round(unsplit_seconds, 2), "s", when="first", **common)
    unsplit_counts = bootstrap_counts(circuit.server, [circuit.function_name])[circuit.function_name]
    emit("fhe_split_bootstraps", unsplit_counts["total"], "bootstraps", function="unsplit", stages=unsplit_counts,
         **common)

    split, compile_seconds = timed(lambda: compile_split(layout, simulate=False, cache_dir=cache))
    split_custodian, keygen_seconds = timed(lambda: SplitCustodian(split, key_dir=cache / "split-keys"))
    keys = split_custodian.evaluation_keys
    holder = SplitKeyHolder(split)  # the stage timings' own masks (their rounds are not the custodian's)
    emit("fhe_split_setup_seconds", round(compile_seconds, 1), "s", step="compile", **common)
    emit("fhe_split_setup_seconds", round(keygen_seconds, 1), "s", step="keygen", **common)
    emit("fhe_split_evaluation_keys_bytes", len(keys), "bytes", unsplit=len(custodian.evaluation_keys), **common)
    for name, counts in bootstrap_counts(split.server).items():
        emit("fhe_split_bootstraps", counts["total"], "bootstraps", function=name, stages=counts,
             per_round=counts["total"] * (layout.groups if name == "group" else 1), **common)

    masks = holder.draw_masks(random.Random(41))
    submitted = [encode_order(shape, round_, orders[index], SlotMask("split", slot, tuple(int(d) for d in masks[slot])))
                 for slot, index in enumerate(priority_slots(orders))]
    masked, caps, order = clear_arguments(shape, round_, submitted)
    ciphertexts = holder.encrypt_masks(masks)

    in_process = wanted if args.skip_in_process else _in_process(split, keys, layout, ciphertexts, masked, caps, order,
                                                                 holder, wanted, common, unsplit_seconds)
    on_ray = _on_ray(split, split_custodian, cache, ciphertexts, masked, caps, order, holder, wanted,
                     (round_, orders))
    # The machine is shared: the baseline again, after the split, and the faster of the two counts.
    again, after_seconds = unsplit_round("unsplit-again")
    emit("fhe_unsplit_round_seconds", round(after_seconds, 2), "s", when="last", **common)
    unsplit_seconds = min(unsplit_seconds, after_seconds)
    emit("fhe_split_round_seconds", round(on_ray.round_seconds, 2), "s", baseline_s=round(unsplit_seconds, 2),
         speedup=round(unsplit_seconds / on_ray.round_seconds, 2), first_round_s=round(on_ray.first_seconds, 2),
         distinct_group_workers=len(set(on_ray.workers)), equal_to_unsplit=on_ray.equal, ray_cpus=2, **common)
    for g, seconds in enumerate(on_ray.group_seconds):
        emit("fhe_split_stage_seconds", round(seconds, 2), "s", function="group", group=g, where="ray worker, 1 CPU",
             **common)
    emit("fhe_split_stage_seconds", round(on_ray.combine_seconds, 2), "s", function="combine",
         where="ray worker, 1 CPU", **common)
    for count in WORKERS:
        waves = math.ceil(layout.groups / count)
        estimate = waves * max(on_ray.group_seconds) + on_ray.combine_seconds
        emit("fhe_split_round_seconds_on_paper", round(estimate, 2), "s", workers=count, worker="1 CPU",
             baseline_s=round(unsplit_seconds, 2), **common)
    equal = on_ray.equal
    if not (equal and in_process == wanted and replace(again, round_id=wanted.round_id) == wanted):
        raise SystemExit("the split round's outputs differ from the unsplit round's")


def _in_process(split: Any, keys: bytes, layout: SplitLayout, ciphertexts: list[bytes], masked: Any, caps: Any,
                order: Any, holder: SplitKeyHolder, wanted: Any, common: dict[str, Any], unsplit_seconds: float) -> Any:
    """Time each function alone in this process; return the decrypted outputs."""
    evaluator = SplitEvaluator(split, keys)
    group_seconds, parts = [], []
    for g, group_masks in enumerate(ciphertexts):
        rows = layout.slot_range(g)
        part, seconds = timed(evaluator.group, group_masks, masked[rows], caps[rows])
        parts.append(part)
        group_seconds.append(seconds)
        emit("fhe_split_stage_seconds", round(seconds, 2), "s", function="group", group=g, where="in process",
             **common)
    outputs, combine_seconds = timed(evaluator.combine, parts, order)
    emit("fhe_split_stage_seconds", round(combine_seconds, 2), "s", function="combine", where="in process", **common)
    in_process = holder.decrypt("unsplit", outputs)
    emit("fhe_split_in_process_round_seconds", round(sum(group_seconds) + combine_seconds, 2), "s",
         equal_to_unsplit=in_process == wanted, baseline_s=round(unsplit_seconds, 2), **common)
    return in_process


class RayTimes(NamedTuple):
    round_seconds: float
    first_seconds: float
    workers: tuple[str, ...]
    equal: bool
    group_seconds: list[float]
    combine_seconds: float


def _on_ray(split: Any, custodian: SplitCustodian, cache: Path, ciphertexts: list[bytes], masked: Any, caps: Any,
            order: Any, holder: SplitKeyHolder, wanted: Any, played: tuple[Round, list[Order]]) -> RayTimes:
    import ray

    from darkpool.operator.fhe_split_ray import RaySplitEvaluator

    # Workers import this checkout's packages, whichever one is installed.
    root = os.path.dirname(_HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, object_store_memory=2 * 2**30, include_dashboard=False, log_to_driver=False)
    try:
        keys = custodian.evaluation_keys
        evaluator = RaySplitEvaluator(split, keys, custodian.key_id, cache_dir=cache)
        workers: list[str] = []

        def on_ray(*inputs: Any) -> tuple[bytes, ...]:
            run = evaluator.evaluate(*inputs)
            workers[:] = run.group_workers
            return run.outputs

        operator = split_operator(split, keys, custodian.key_id, evaluate=on_ray)
        round_, orders = played

        def split_round(round_id: str) -> tuple[Any, float]:
            """The product's split round: Enc(R) per group, masks issued, the operator on Ray, one decryption."""
            masks = custodian.open_round(round_id)
            assert len(unpack_masks(masks.ciphertext, split.layout.groups)) == split.layout.groups
            operator.begin(round_id, round_, masks)
            for slot, index in enumerate(priority_slots(orders)):
                operator.submit(encode_order(split.shape, round_, orders[index], custodian.issue_mask(round_id,
                                                                                                      slot)))
            request, seconds = timed(operator.evaluate, round_id)
            return replace(custodian.decrypt(request), round_id=wanted.round_id), seconds

        first, first_seconds = split_round("split-first")
        run, seconds = split_round("split")
        equal = first == wanted and run == wanted
        # Each function alone on one worker (Ray gives a 1-CPU task one thread): the on-paper costs.
        group_seconds, parts = [], []
        for g, group_masks in enumerate(ciphertexts):
            start = time.perf_counter()
            parts.append(ray.get(evaluator.submit_group(g, group_masks, masked, caps)[0]))
            group_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        ray.get(evaluator.submit_combine(parts, order))
        combine_seconds = time.perf_counter() - start
        return RayTimes(seconds, first_seconds, tuple(workers), equal, group_seconds, combine_seconds)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
