"""FHE evaluation on a Ray cluster (``fhe_backend = "ray"``): the operator's evaluations as Ray tasks.

Everything but the evaluation stays as in :class:`~darkpool.operator.fhe_backend.CustodianFheBackend`
(custodian calls, verifiers, decryption). Each round's evaluation is a task on any worker of the
cluster, so rounds of different instruments — which the operator clears outside its lock — run
on different workers at once. The custodian's evaluation keys of an epoch are put into Ray's
object store once and each worker deserializes them once per epoch (it keeps the last key set
of each circuit); ``Enc(R)`` and the clear inputs travel with the task.

Failures: a worker that dies mid-evaluation makes Ray run the task again on another worker (up to
``attempts`` times); a head that cannot be reached, or an evaluation that does not finish within
``timeout_s``, raises :class:`~darkpool.errors.ServiceUnavailable`. Nothing is decrypted and
nothing is journaled unless an evaluation completes, so a failure is never partial: the round stays
open (frozen only while evaluating) and the admin clears it again or abandons it.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from darkpool.errors import ServiceUnavailable
from darkpool.operator.fhe_backend import CustodianFheBackend, raise_for_bytes
from darkpool.operator.rounds_fhe import SlotInput

__all__ = ["RayFheBackend", "evaluate_round"]

_WORKER_OPERATORS: dict[str, tuple[str, Any]] = {}
"""In each Ray worker: circuit id → (key id, ``fhe.operator.Operator``) of the last epoch it evaluated."""


def evaluate_round(job: dict[str, Any], keys: list[Any]) -> tuple[Any, ...]:
    """Run in a Ray worker: evaluate one round; return the ``DecryptionRequest`` fields.

    ``keys`` holds the epoch's evaluation keys as an object reference (not resolved by Ray), so a
    worker that already holds that key set never fetches or deserializes it again.
    """
    import ray

    from darkpool.domain import Round, Ticks
    from fhe.artifacts import CircuitId, compile_circuit
    from fhe.encoding import MaskedOrder
    from fhe.operator import Operator
    from fhe.shape import Shape
    from fhe.transcript import RoundMasks

    circuit_id, key_id = job["circuit_id"], job["key_id"]
    cached = _WORKER_OPERATORS.get(circuit_id)
    if cached is None or cached[0] != key_id:
        circuit = compile_circuit(Shape(*job["shape"]), simulate=job["simulate"], cache_dir=job["cache_dir"])
        if str(circuit.id) != circuit_id:
            raise RuntimeError(f"worker compiled circuit {circuit.id}, the round needs {circuit_id}")
        evaluation_keys = b"" if job["simulate"] else bytes(ray.get(keys[0]))
        _WORKER_OPERATORS[circuit_id] = (key_id, Operator(circuit, evaluation_keys, key_id))
    operator = _WORKER_OPERATORS[circuit_id][1]
    rid = str(job["round_id"])
    masks = RoundMasks(rid, CircuitId(circuit_id), key_id, job["shape"][0], job["digits_per_slot"], job["masks"])
    operator.begin(rid, Round("fhe", Ticks(job["reference_ticks"]), Ticks(job["band_low_ticks"]), job["levels"]),
                   masks)
    for slot, digits, cap in job["orders"]:
        operator.submit(MaskedOrder(rid, slot, tuple(digits)), cap=cap)
    request = operator.evaluate(rid, salt=job["salt"])
    return (request.round_id, str(request.circuit_id), request.masks_digest, request.inputs_commitment,
            request.transcript_hash, request.outputs)


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse an address whose host does not accept a TCP connection within ``timeout_s``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as error:
        raise ConnectionError(f"{address} does not answer: {error}") from error


class RayFheBackend(CustodianFheBackend):
    """The custodian backend with evaluations on Ray (an address, or a local Ray started here)."""

    def __init__(self, *args: Any, ray_address: str | None = None, ray_cpus: int | None = None,
                 attempts: int = 3, timeout_s: float = 3600.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import ray

        if not ray.is_initialized():
            try:
                if ray_address:
                    _reachable(ray_address)  # ray.init retries an absent head for minutes
                    ray.init(address=ray_address, log_to_driver=False)
                else:
                    ray.init(num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, TimeoutError) as error:
                where = ray_address or "local"
                raise ServiceUnavailable(f"cannot reach the Ray cluster at {where}: {error}") from error
        self._ray = ray
        self._task = ray.remote(num_cpus=1, max_retries=attempts, retry_exceptions=False)(evaluate_round)
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._key_refs: dict[str, tuple[str, Any]] = {}

    def _keys_ref(self, info: dict[str, Any]) -> Any:
        """The epoch's evaluation keys in the object store: fetched from the custodian and put once."""
        circuit_id, key_id = info["circuit_id"], info["key_id"]
        with self._lock:
            known = self._key_refs.get(circuit_id)
            if known is None or known[0] != key_id:
                keys = b"" if self.simulate else raise_for_bytes(
                    self.http.get(f"/keys/{circuit_id}", params={"key_id": key_id}))
                known = self._key_refs[circuit_id] = (key_id, self._ray.put(keys))
            return known[1]

    def _split_operator(self, circuit: Any, keys: bytes, key_id: str) -> Any:
        """The operator of a split module whose groups and combine are Ray tasks (keys put once per epoch)."""
        from darkpool.operator.fhe_split_ray import RaySplitEvaluator
        from fhe.split_roles import split_operator

        evaluator = RaySplitEvaluator(circuit, keys, key_id, cache_dir=self.cache_dir, timeout_s=self._timeout_s,
                                      attempts=self._attempts)
        return split_operator(circuit, keys, key_id,
                              evaluate=lambda *inputs: evaluator.evaluate(*inputs).outputs)

    def evaluate(self, round_id: int, info: dict[str, Any], orders: dict[int, SlotInput], reference_ticks: int,
                 band_low_ticks: int, levels: int, salt: bytes) -> Any:
        """The operator's evaluation, as a Ray task (a split round: its groups, then its combine, as tasks):
        a ``fhe.transcript.DecryptionRequest``."""
        from fhe.artifacts import CircuitId
        from fhe.transcript import DecryptionRequest

        if info.get("groups", 1) > 1:
            try:
                return super().evaluate(round_id, info, orders, reference_ticks, band_low_ticks, levels, salt)
            except (self._ray.exceptions.RayError, TimeoutError) as error:
                raise ServiceUnavailable(f"the Ray evaluation of split round {round_id} failed: "
                                         f"{type(error).__name__}: {str(error)[:300]}") from error

        job = {"round_id": round_id, "circuit_id": info["circuit_id"], "key_id": info["key_id"],
               "shape": (info["slots"], info["levels"], info["quantity_digits"]),
               "digits_per_slot": info["digits_per_slot"], "simulate": self.simulate,
               "cache_dir": str(self.cache_dir) if self.cache_dir else None,
               "masks": self._masks_path(round_id).read_bytes(), "reference_ticks": reference_ticks,
               "band_low_ticks": band_low_ticks, "levels": levels, "salt": salt,
               "orders": [(slot, list(given.digits), given.cap) for slot, given in sorted(orders.items())]}
        task = self._task.remote(job, [self._keys_ref(info)])
        try:
            rid, circuit_id, masks_digest, commitment, transcript, outputs = self._ray.get(task,
                                                                                       timeout=self._timeout_s)
        except (self._ray.exceptions.RayError, TimeoutError) as error:
            with contextlib.suppress(Exception):  # best effort: the task may be gone with its worker
                self._ray.cancel(task, force=True)
            raise ServiceUnavailable(f"the Ray evaluation of round {round_id} failed: {type(error).__name__}: "
                                     f"{str(error)[:300]}") from error
        return DecryptionRequest(rid, CircuitId(circuit_id), masks_digest, commitment, transcript, tuple(outputs))
