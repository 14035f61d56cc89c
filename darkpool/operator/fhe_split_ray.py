"""One large FHE round split over Ray workers: the slot groups in parallel, then the combine.

Each slot group of :mod:`fhe.split` is a Ray task; the tasks run on whichever workers are free, so
with ``G`` free CPUs the ``G`` groups run at once. Their serialized outputs stay in Ray's object
store and go straight to the combine task, which returns the round's encrypted outputs. The
evaluation keys of a key set are put into the object store once; each worker deserializes the
server artifact and the keys once and keeps them for later rounds of the same key set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from darkpool.errors import ShapeError
from fhe.arrays import IntArray
from fhe.split import SplitCircuit, SplitEvaluator

__all__ = ["RaySplitEvaluator", "SplitRun", "combine_task", "group_task"]

_WORKER_EVALUATORS: dict[str, tuple[str, SplitEvaluator]] = {}
"""In each Ray worker: split module id → (key id, evaluator) of the last key set it used."""


def _evaluator(job: dict[str, Any], keys: list[Any]) -> SplitEvaluator:
    """Return this worker's evaluator for ``job``, loading artifact and keys on first use."""
    import ray

    from fhe.shape import Shape
    from fhe.split import SplitLayout, compile_split

    ident, key_id = job["split_id"], job["key_id"]
    cached = _WORKER_EVALUATORS.get(ident)
    if cached is None or cached[0] != key_id:
        layout = SplitLayout(Shape(*job["shape"]), job["groups"])
        circuit = compile_split(layout, simulate=job["simulate"], cache_dir=job["cache_dir"])
        if circuit.id != ident:
            raise RuntimeError(f"worker has split module {circuit.id}, the round needs {ident}")
        evaluation_keys = b"" if job["simulate"] else bytes(ray.get(keys[0]))
        cached = _WORKER_EVALUATORS[ident] = (key_id, SplitEvaluator(circuit, evaluation_keys))
    return cached[1]


def group_task(
    job: dict[str, Any], keys: list[Any], masks: bytes, masked: IntArray, caps: IntArray
) -> tuple[bytes, str]:
    """Run in a Ray worker: evaluate one slot group; return its output and the worker's id.

    ``keys`` holds the evaluation keys as an object reference (not resolved by Ray), so a worker
    that already holds that key set never fetches it again.
    """
    import ray

    output = _evaluator(job, keys).group(masks, masked, caps)
    return output, ray.get_runtime_context().get_worker_id()


def combine_task(job: dict[str, Any], keys: list[Any], order: IntArray, *parts: bytes) -> tuple[bytes, ...]:
    """Run in a Ray worker: combine the groups' outputs (resolved by Ray) into the round's outputs."""
    return _evaluator(job, keys).combine(parts, order)


@dataclass(frozen=True, slots=True)
class SplitRun:
    """A split round's encrypted outputs and the Ray workers that evaluated its groups."""

    outputs: tuple[bytes, ...]
    group_workers: tuple[str, ...]


class RaySplitEvaluator:
    """Evaluate split rounds of one module and key set on the Ray this process is connected to."""

    def __init__(self, circuit: SplitCircuit, evaluation_keys: bytes, key_id: str, *,
                 cache_dir: Path | None = None, timeout_s: float = 3600.0, attempts: int = 3) -> None:
        """``attempts``: how many times Ray runs a task again whose worker died (never on an exception)."""
        import ray

        if not ray.is_initialized():
            raise RuntimeError("connect to a Ray cluster (ray.init) before evaluating on it")
        self._ray = ray
        layout = circuit.layout
        self._job = {"split_id": circuit.id, "key_id": key_id, "simulate": circuit.simulate, "groups": layout.groups,
                     "shape": (layout.shape.slots, layout.shape.levels, layout.shape.quantity_digits),
                     "cache_dir": str(cache_dir) if cache_dir else None}
        self._layout = layout
        self._keys = [ray.put(evaluation_keys)]  # once per key set: every task shares the reference
        self._group: Any = ray.remote(num_cpus=1, num_returns=2, max_retries=attempts,
                                      retry_exceptions=False)(group_task)
        self._combine: Any = ray.remote(num_cpus=1, max_retries=attempts, retry_exceptions=False)(combine_task)
        self._timeout_s = timeout_s

    def evaluate(self, masks: Sequence[bytes], masked: IntArray, caps: IntArray, order: IntArray) -> SplitRun:
        """Evaluate one round: ``G`` group tasks, then the combine task on their outputs."""
        layout = self._layout
        if len(masks) != layout.groups:
            raise ShapeError(f"expected Enc(R) of {layout.groups} groups, got {len(masks)}")
        submitted = [self.submit_group(g, group_masks, masked, caps) for g, group_masks in enumerate(masks)]
        outputs = self.submit_combine([part for part, _ in submitted], order)
        try:
            done = self._ray.get(outputs, timeout=self._timeout_s)
            workers = self._ray.get([worker for _, worker in submitted], timeout=self._timeout_s)
        except (self._ray.exceptions.RayError, TimeoutError):
            # Cancel the groups only: the combine then fails on its cancelled inputs and never runs.
            # Cancelling the combine itself while it waits on them aborts this process in Ray 2.60
            # ("Check failed: submitted_task_ref_count > 0" in the reference counter).
            for part, _ in submitted:
                with contextlib.suppress(Exception):  # best effort: a task may be gone with its worker
                    self._ray.cancel(part, force=True)
            raise
        return SplitRun(tuple(done), tuple(workers))

    def submit_group(self, group: int, masks: bytes, masked: IntArray, caps: IntArray) -> tuple[Any, Any]:
        """Start slot group ``group`` (of the round's full ``masked`` and ``caps``); return its output's
        and its worker id's object references."""
        rows = self._layout.slot_range(group)
        part, worker = self._group.remote(self._job, self._keys, masks, np.asarray(masked[rows]),
                                          np.asarray(caps[rows]))
        return part, worker

    def submit_combine(self, parts: Sequence[Any], order: IntArray) -> Any:
        """Start the combine on the groups' outputs (object references or bytes); return its reference."""
        return self._combine.remote(self._job, self._keys, np.asarray(order), *parts)
