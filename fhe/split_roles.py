"""The custodian's and the operator's sides of a split round (:mod:`fhe.split`).

A split round is a round like any other to everyone but the evaluator: the custodian draws one
``R`` for the round's ``N`` slots, each client gets its own slot's row, and the transcript hash,
the inputs commitment and the decryption policy are the unsplit round's. What differs:

- ``Enc(R)`` is one ciphertext per slot group (``fhe.split.GROUP``'s first argument), packed into
  one byte string (:func:`pack_masks`) so its digest, announcement and storage are unchanged;
- the custodian's key set is the split module's, and it decrypts the outputs of ``COMBINE``;
- the operator (and each verifier) evaluates the groups and the combine, here or on Ray workers.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from concrete import fhe

from darkpool.errors import CiphertextShapeError, UndeclaredOutput
from fhe.arrays import IntArray
from fhe.artifacts import compile_circuit
from fhe.custodian import Custodian, KnownWords
from fhe.log import DecryptionLog
from fhe.operator import Operator
from fhe.shape import Shape
from fhe.split import SplitCircuit, SplitEvaluator, SplitKeyHolder, SplitLayout, compile_split

__all__ = ["SplitCustodian", "compile_program", "pack_masks", "split_operator", "unpack_masks"]

_PACKED = b"darkpool-split-masks\0"
_MAX_GROUPS = 64

GroupsEvaluator = Callable[[Sequence[bytes], IntArray, IntArray, IntArray], Sequence[bytes]]
"""Evaluate a split round: ``Enc(R)`` per group, masked digits, caps, rank order → the combine's outputs."""


def compile_program(key: tuple[int, int, int, int], *, simulate: bool, cache_dir: Path | None) -> Any:
    """The compiled circuit (``groups`` 1) or split module of ``key`` = (slots, levels, quantity digits, groups),
    as the custodian, the operator and the verifiers each load it (a split's groups must divide the slots)."""
    shape, groups = Shape(*key[:3]), key[3]
    if groups == 1:
        return compile_circuit(shape, simulate=simulate, cache_dir=cache_dir)
    return compile_split(SplitLayout(shape, groups), simulate=simulate, cache_dir=cache_dir)


def pack_masks(groups: Sequence[bytes]) -> bytes:
    """Pack the groups' ``Enc(R)`` ciphertexts, in group order, into one byte string."""
    out = [_PACKED, struct.pack(">H", len(groups))]
    for data in groups:
        out += [struct.pack(">Q", len(data)), bytes(data)]
    return b"".join(out)


def unpack_masks(data: bytes, groups: int) -> list[bytes]:
    """Return the ``groups`` ciphertexts of :func:`pack_masks`'s output; refuse anything else."""
    if not data.startswith(_PACKED) or len(data) < len(_PACKED) + 2:
        raise CiphertextShapeError("Enc(R) is not a split round's packed group ciphertexts")
    (count,) = struct.unpack_from(">H", data, len(_PACKED))
    if count != groups or not 1 <= count <= _MAX_GROUPS:
        raise CiphertextShapeError(f"Enc(R) packs {count} group ciphertexts, the round has {groups} groups")
    parts, at = [], len(_PACKED) + 2
    for _ in range(count):
        if at + 8 > len(data):
            raise CiphertextShapeError("Enc(R) is truncated")
        (size,) = struct.unpack_from(">Q", data, at)
        at += 8
        if at + size > len(data):
            raise CiphertextShapeError("Enc(R) is truncated")
        parts.append(data[at:at + size])
        at += size
    if at != len(data):
        raise CiphertextShapeError("Enc(R) has trailing bytes after its group ciphertexts")
    return parts


class SplitCustodian(Custodian):
    """The custodian of a split module's key set: ``Enc(R)`` per group, the combine's outputs decrypted.

    Everything else — masks drawn once, a slot's mask issued once, one decryption per transcript,
    the verifiers' evaluations decrypted and compared, low-entropy and replayed ciphertexts refused —
    is :class:`~fhe.custodian.Custodian`'s.
    """

    def __init__(self, circuit: SplitCircuit, *, key_dir: Path | None = None, rng: random.Random | None = None,
                 log: DecryptionLog | None = None, known: KnownWords | None = None) -> None:
        super().__init__(circuit, key_dir=key_dir, rng=rng, log=log, known=known)
        client = self._client if self._client is not None else fhe.Client(circuit.client_specs, is_simulated=True)
        self._holder: SplitKeyHolder | None = SplitKeyHolder(circuit, client)

    def retire(self) -> None:
        super().retire()
        self._holder = None  # the client it held keeps the secret key in memory

    def _live_holder(self) -> SplitKeyHolder:
        self._check_live()
        assert self._holder is not None
        return self._holder

    def _encrypt_masks(self, masks: IntArray) -> bytes:
        return pack_masks(self._live_holder().encrypt_masks(masks))

    def _decrypt_values(self, outputs: tuple[bytes, ...]) -> list[IntArray]:
        try:
            return self._live_holder().decrypt_digits(outputs)
        except (RuntimeError, ValueError) as error:
            raise UndeclaredOutput(f"the outputs are not this split module's declared outputs: {error}") from error


def split_operator(circuit: SplitCircuit, evaluation_keys: bytes, key_id: str, *,
                   evaluate: GroupsEvaluator | None = None) -> Operator:
    """An :class:`~fhe.operator.Operator` of a split module: groups and combine in this process, or by
    ``evaluate`` (Ray workers, :class:`darkpool.operator.fhe_split_ray.RaySplitEvaluator`)."""
    groups = circuit.layout.groups
    if evaluate is None:
        evaluate = SplitEvaluator(circuit, evaluation_keys).evaluate

    def run(masks: bytes, clear_args: Sequence[IntArray]) -> tuple[bytes, ...]:
        parts = unpack_masks(masks, groups)
        masked, caps, order = clear_args
        try:
            return tuple(bytes(output) for output in evaluate(parts, masked, caps, order))
        except RuntimeError as error:  # concrete refuses a ciphertext of another key set or shape
            raise CiphertextShapeError(f"Enc(R) does not fit split module {circuit.id}: {error}") from error

    return Operator(circuit, b"", key_id, run=run)
