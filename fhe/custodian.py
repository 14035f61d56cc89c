"""The key custodian: the only holder of the secret key.

It generates (or loads) the key set of a circuit, draws each round's digit masks ``R``, gives the
operator ``Enc(R)`` and each client its own slot's ``r`` (once), and decrypts a round's declared
outputs once, for a request naming the round's transcript hash. Every decryption is appended to
its hash-chained log. Everything else is refused with a specific error.

In simulation (``circuit.simulate``) nothing is encrypted: ``Enc(R)`` and the outputs travel as
plain arrays, but every policy check runs the same way.
"""

from __future__ import annotations

import hmac
import io
import os
import random
import secrets
import shutil
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from concrete import fhe

from darkpool.domain import Side
from darkpool.errors import (
    CiphertextShapeError,
    EvaluationMismatch,
    ForeignKey,
    InconsistentOutputs,
    MaskReuse,
    ReplayedCiphertext,
    ReplayedDecryption,
    TranscriptMismatch,
    TrivialCiphertext,
    UndeclaredOutput,
    WrongRound,
)
from fhe.arrays import IntArray
from fhe.artifacts import Program
from fhe.encoding import SlotMask
from fhe.log import DecryptionLog
from fhe.shape import Shape
from fhe.transcript import DecryptionRequest, RoundMasks, RoundOutputs, digest, transcript_hash

__all__ = ["MAX_ZERO_WORDS", "Custodian", "KnownWords", "decode_digits", "decode_outputs", "load_array",
           "refuse_low_entropy", "save_array"]

OUTPUT_COUNT = 5
"""Declared outputs: traded flag, rank digits, volume digits, fill digits per slot, fill side per slot."""
_SIMULATED = b"darkpool-simulated\0"


def save_array(array: IntArray) -> bytes:
    """Serialize a plain array (simulation's stand-in for a ciphertext)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.int64), allow_pickle=False)
    return _SIMULATED + buffer.getvalue()


def load_array(data: bytes) -> IntArray:
    """Deserialize :func:`save_array` output, refusing anything else."""
    if not data.startswith(_SIMULATED):
        raise ForeignKey("expected a simulated value, got a ciphertext")
    try:
        return np.asarray(np.load(io.BytesIO(data[len(_SIMULATED) :]), allow_pickle=False))
    except ValueError as error:
        raise CiphertextShapeError(f"malformed simulated value: {error}") from error


@dataclass
class _RoundState:
    masks: IntArray
    masks_digest: str
    issued: set[int] = field(default_factory=set)
    decrypted: bool = False


class Custodian:
    """Hold one circuit's secret key; issue masks; decrypt round outputs under policy."""

    def __init__(
        self,
        circuit: Program,
        *,
        key_dir: Path | None = None,
        rng: random.Random | None = None,
        log: DecryptionLog | None = None,
        known: KnownWords | None = None,
        progress: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._circuit = circuit
        self._key_dir = key_dir
        self._retired = False
        self._rng = rng or secrets.SystemRandom()
        self._rounds: dict[str, _RoundState] = {}
        self.known = known or KnownWords()
        """Every 64-bit word of the ciphertexts issued (``Enc(R)``) or decrypted (shared across epochs)."""
        self.log = log or DecryptionLog()
        self._client: Any = None
        self._evaluation_keys = b""
        if not circuit.simulate:
            self._client, self._evaluation_keys = _load_or_generate_keys(
                circuit, key_dir or circuit.directory.parent / "custodian", progress
            )
        # Simulation has no keys; a random id still tells one custodian's masks from another's.
        self.key_id = digest(self._evaluation_keys or secrets.token_bytes(32))[:32]

    @property
    def evaluation_keys(self) -> bytes:
        """The serialized evaluation keys: public, what the operator gets (empty in simulation)."""
        return self._evaluation_keys

    @property
    def circuit(self) -> Program:
        """The circuit (or split module) whose key set this custodian holds."""
        return self._circuit

    def open_round(self, round_id: str) -> RoundMasks:
        """Draw the round's masks ``R`` and return ``Enc(R)`` for the operator (once per round)."""
        self._check_live()
        if round_id in self._rounds:
            raise MaskReuse(f"round {round_id!r} already has masks; masks are never drawn twice")
        shape = self._circuit.shape
        masks = np.array(
            [[self._rng.randrange(4) for _ in range(shape.digits_per_slot)] for _ in range(shape.slots)],
            dtype=np.int64,
        )
        ciphertext = self._encrypt_masks(masks)
        self._rounds[round_id] = _RoundState(masks, digest(ciphertext))
        if self._client is not None:
            self.known.add(ciphertext)
        return RoundMasks(
            round_id, self._circuit.id, self.key_id, shape.slots, shape.digits_per_slot, ciphertext
        )

    def _encrypt_masks(self, masks: IntArray) -> bytes:
        """``Enc(R)`` as the operator receives it (a plain array in simulation)."""
        if self._client is None:
            return save_array(masks)
        encrypted = self._client.encrypt(masks, None, None, None, function_name=self._circuit.function_name)
        return bytes(encrypted[0].serialize())

    def retire(self) -> None:
        """Destroy this key set's secret key (its rounds are all spent): a later leak of the machine
        cannot decrypt them. Every later request of this key set is refused."""
        self._retired = True
        self._client = None
        secret = (self._key_dir or Path()) / "keyset" / "secret.keys"
        if self._key_dir is not None and secret.exists():
            size = secret.stat().st_size
            with secret.open("r+b") as handle:  # overwrite first (best effort: SSDs may keep old blocks)
                handle.write(b"\0" * size)
                handle.flush()
                os.fsync(handle.fileno())
            secret.unlink()

    def _check_live(self) -> None:
        if self._retired:
            raise ForeignKey(f"key set {self.key_id} is retired: its secret key is destroyed")

    def restore_round(self, round_id: str, masks: IntArray, ciphertext: bytes, issued: set[int],
                      spent: bool) -> None:
        """Reload a round a restarted custodian persisted: its masks, ``Enc(R)``, issued slots, spent flag."""
        if round_id in self._rounds:
            raise MaskReuse(f"round {round_id!r} is already loaded")
        shape = self._circuit.shape
        array = np.asarray(masks, dtype=np.int64)
        if array.shape != (shape.slots, shape.digits_per_slot):
            raise CiphertextShapeError(f"stored masks of shape {array.shape} do not fit circuit {self._circuit.id}")
        self._rounds[round_id] = _RoundState(array, digest(ciphertext), set(issued), spent)
        if self._client is not None:
            self.known.add(ciphertext)

    def round_masks(self, round_id: str) -> IntArray:
        """The round's mask digits ``R`` (for the custodian's own sealed storage only)."""
        return self._state(round_id).masks.copy()

    def spend(self, round_id: str) -> None:
        """Mark the round spent without decrypting anything (an aborted round): no masks, no decryption."""
        self._state(round_id).decrypted = True

    def issue_mask(self, round_id: str, slot: int) -> SlotMask:
        """Return slot ``slot``'s mask digits for its client; a second request is refused."""
        state = self._state(round_id)
        if not 0 <= slot < self._circuit.shape.slots:
            raise CiphertextShapeError(f"slot must be in 0..{self._circuit.shape.slots - 1}, got {slot}")
        if slot in state.issued:
            raise MaskReuse(f"round {round_id!r}: the mask of slot {slot} was already issued")
        if state.decrypted:
            raise MaskReuse(f"round {round_id!r} is decrypted; its masks are spent")
        state.issued.add(slot)
        return SlotMask(round_id, slot, tuple(int(d) for d in state.masks[slot]))

    def decrypt(self, request: DecryptionRequest, attested: Sequence[tuple[bytes, ...]] = (), *,
                caps: Sequence[int] | None = None) -> RoundOutputs:
        """Decrypt a round's declared outputs, once, for a request naming its transcript.

        ``attested`` are independent re-evaluations of the same transcript (verifiers'): each is
        decrypted too, and the outputs are released only if every one decrypts equal to the
        request's (compared after decryption: evaluations differ byte-wise across processes).
        A disagreement releases nothing, spends the round and is logged (outputs null).
        """
        self._check_live()
        state = self._state(request.round_id)
        if request.circuit_id != self._circuit.id:
            raise ForeignKey(f"request names circuit {request.circuit_id!r}, custodian holds {self._circuit.id!r}")
        expected = transcript_hash(self._circuit.id, state.masks_digest, request.inputs_commitment)
        if not hmac.compare_digest(request.masks_digest, state.masks_digest) or not hmac.compare_digest(
            request.transcript_hash, expected
        ):
            raise TranscriptMismatch(f"round {request.round_id!r}: the request's transcript hash is not this round's")
        if state.decrypted:
            raise ReplayedDecryption(f"round {request.round_id!r} was already decrypted")
        if len(request.outputs) != OUTPUT_COUNT:
            raise UndeclaredOutput(f"expected the round's {OUTPUT_COUNT} declared outputs, got {len(request.outputs)}")
        if any(len(outputs) != OUTPUT_COUNT for outputs in attested):
            raise UndeclaredOutput(f"an attested evaluation has not the round's {OUTPUT_COUNT} declared outputs")
        # Spent before decrypting: a failed or inconsistent decryption cannot be retried either.
        state.decrypted = True
        try:
            blobs = (*request.outputs, *(data for outputs in attested for data in outputs))
            if self._client is not None:
                for data in blobs:
                    refuse_low_entropy(data)
                    self.known.refuse_reuse(data)
                for data in blobs:
                    self.known.add(data)
            values = self._decrypt_values(request.outputs)
            others = [self._decrypt_values(outputs) for outputs in attested]
        except UndeclaredOutput:
            self.log.append(request.round_id, request.transcript_hash, None)
            raise
        for index, other in enumerate(others):
            if any(np.shape(a) != np.shape(b) or not np.array_equal(a, b) for a, b in zip(values, other, strict=True)):
                self.log.append(request.round_id, request.transcript_hash, None)
                raise EvaluationMismatch(f"round {request.round_id!r}: attested evaluation {index} decrypts "
                                         "differently from the operator's; nothing released, the round is void")
        try:
            outputs = decode_outputs(self._circuit, request.round_id, values)
        except InconsistentOutputs:
            self.log.append(request.round_id, request.transcript_hash, None)
            raise
        self.log.append(request.round_id, request.transcript_hash, outputs, caps=caps)
        return outputs

    def _state(self, round_id: str) -> _RoundState:
        state = self._rounds.get(round_id)
        if state is None:
            raise WrongRound(f"round {round_id!r} was not opened by this custodian")
        return state

    def _decrypt_values(self, outputs: tuple[bytes, ...]) -> list[IntArray]:
        if self._client is None:
            return [load_array(data) for data in outputs]
        try:
            values = [fhe.Value.deserialize(data) for data in outputs]
            plain = self._client.decrypt(*values, function_name=self._circuit.function_name)
        except (RuntimeError, ValueError) as error:
            raise UndeclaredOutput(f"the outputs are not this circuit's declared outputs: {error}") from error
        return [np.asarray(v) for v in plain]


MAX_ZERO_WORDS = 64
"""Zero 64-bit words a serialized output may hold (its framing's); an LWE ciphertext's mask is
uniform, so a real one has essentially none, while a trivial (noiseless) ciphertext or a crafted
low-entropy one — the mask ``a = e_i`` of a key-bit probe — has about as many as its dimension."""


def refuse_low_entropy(data: bytes) -> None:
    """Refuse, before any decryption, a serialized ciphertext with a trivial or low-entropy mask."""
    words = np.frombuffer(data[: len(data) // 8 * 8], dtype="<u8")
    zeros = int(np.count_nonzero(words == 0))
    if zeros > max(MAX_ZERO_WORDS, len(words) // 100):
        raise TrivialCiphertext(f"an output holds {zeros} zero words of {len(words)}: a trivial or crafted "
                                "ciphertext, not an evaluation's; nothing is decrypted")


Words = npt.NDArray[np.uint64]


class KnownWords:
    """The 64-bit words of ciphertexts already issued or decrypted, to refuse their reuse on sight.

    An LWE mask is uniform, so two honest ciphertexts share essentially no 64-bit word beyond their
    framing; an output that repeats many words of ``Enc(R)`` or of an output decrypted before is a
    splice or a replay of another round's ciphertext, refused before it reaches the secret key.
    (A ciphertext transformed homomorphically — rescaled, added to — shares no words: that one is
    caught after decryption, when it disagrees with the verifiers' evaluation.)
    """

    def __init__(self) -> None:
        self._parts: list[Words] = []
        self._sorted: Words = np.zeros(0, dtype="<u8")

    def add(self, data: bytes) -> None:
        self._parts.append(_words(data))

    def refuse_reuse(self, data: bytes) -> None:
        if self._parts:
            self._sorted = np.unique(np.concatenate([self._sorted, *self._parts]))
            self._parts = []
        words = _words(data)
        words = words[words != 0]  # zero words are framing (and refused in bulk by refuse_low_entropy)
        shared = int(np.count_nonzero(np.isin(words, self._sorted)))
        if shared > max(MAX_ZERO_WORDS, len(words) // 100):
            raise ReplayedCiphertext(f"an output repeats {shared} of its {len(words)} words from a ciphertext "
                                     "already issued or decrypted: a splice or a replay; nothing is decrypted")


def _words(data: bytes) -> Words:
    return np.frombuffer(data[: len(data) // 8 * 8], dtype="<u8")


def decode_outputs(circuit: Program, round_id: str,
                   values: list[IntArray]) -> RoundOutputs:
    """Turn decrypted output digits into a :class:`RoundOutputs`, or refuse garbage."""
    return decode_digits(circuit.shape, round_id, values)


def decode_digits(shape: Shape, round_id: str, values: list[IntArray]) -> RoundOutputs:
    """Turn the decrypted output digits of a circuit of ``shape`` into a :class:`RoundOutputs`."""
    expected_shapes = [(), (shape.position_digits,), (shape.volume_digits,), (shape.slots, shape.quantity_digits),
                       (shape.slots,)]
    for value, wanted in zip(values, expected_shapes, strict=True):
        if np.shape(value) != wanted:
            raise CiphertextShapeError(f"an output has shape {np.shape(value)}, expected {wanted}")
        if np.any(np.asarray(value) < 0) or np.any(np.asarray(value) > 3):
            raise InconsistentOutputs("an output digit is outside 0..3: not an honest evaluation")
    traded, rank_digits, volume_digits, fill_digits, side_codes = values
    weights = [4**j for j in range(max(shape.volume_digits, shape.quantity_digits, shape.position_digits))]
    rank = int(sum(int(d) * w for d, w in zip(rank_digits, weights, strict=False)))
    volume = int(sum(int(d) * w for d, w in zip(volume_digits, weights, strict=False)))
    fills = tuple(int(sum(int(d) * w for d, w in zip(row, weights, strict=False))) for row in fill_digits)
    if int(traded) > 1 or (not traded and (rank or volume)) or rank >= shape.levels:
        raise InconsistentOutputs("the traded flag, rank and volume disagree: not an honest evaluation")
    codes = [int(code) for code in side_codes]
    if any(code == 3 or (code == 0) != (fill == 0) for code, fill in zip(codes, fills, strict=True)):
        raise InconsistentOutputs("a fill side is given for an unfilled slot or missing for a filled one: "
                                  "not an honest evaluation")
    bought = sum(fill for fill, code in zip(fills, codes, strict=True) if code == 1)
    sold = sum(fill for fill, code in zip(fills, codes, strict=True) if code == 2)
    if bought != volume or sold != volume:
        raise InconsistentOutputs(f"buys fill {bought} and sells {sold} lots of a volume of {volume}: "
                                  "not an honest evaluation")
    sides = tuple(None if code == 0 else Side(code - 1) for code in codes)
    return RoundOutputs(round_id, rank if traded else None, volume, fills, sides)


def _load_or_generate_keys(
    circuit: Program,
    key_dir: Path,
    progress: Callable[[str], AbstractContextManager[None]] | None,
) -> tuple[Any, bytes]:
    """Load the key set under ``key_dir/keyset``, or generate it and publish it atomically.

    Both files are written into a fresh directory that is then renamed into place, so two
    processes racing on a cold cache never pair one's secret key with the other's evaluation keys.
    """
    client = fhe.Client(circuit.client_specs)
    keyset = key_dir / "keyset"
    if not (keyset / "eval.keys").exists():
        with (progress or (lambda _: nullcontext()))(f"generating keys for {circuit.shape.id}"):
            client.keygen()
        key_dir.mkdir(parents=True, exist_ok=True)
        staging = key_dir / f".keyset.{secrets.token_hex(6)}"
        staging.mkdir()
        client.keys.save(staging / "secret.keys")
        (staging / "eval.keys").write_bytes(client.evaluation_keys.serialize())
        try:
            staging.rename(keyset)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process published first: use its keys
        else:
            return client, (keyset / "eval.keys").read_bytes()
    client = fhe.Client(circuit.client_specs)
    client.keys.load(keyset / "secret.keys")
    return client, (keyset / "eval.keys").read_bytes()
