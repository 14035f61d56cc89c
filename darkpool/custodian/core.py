"""The custodian service's state: one ``fhe.custodian.Custodian`` per circuit shape, slot owners, one log.

The only module of the services that imports :mod:`fhe` on the custodian side. It never
receives order digits: only round shapes, slot owners (from the operator), signed mask requests
(from clients) and decryption requests (from the operator).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkpool.crypto.sealing import check_private_tree, restrict_tree
from darkpool.domain import Account
from darkpool.errors import NotFound, PolicyViolation
from darkpool.signing import MaskRequest, Signed, SigningDomain, Verifier

__all__ = ["CustodianCore", "DecryptedRound", "IssuedMask", "LogRecord", "OpenedRound"]


@dataclass(frozen=True)
class OpenedRound:
    """A round's masks drawn: ``Enc(R)`` (``masks``) and the circuit shape, for the operator."""

    round_id: str
    circuit_id: str
    key_id: str
    slots: int
    levels: int
    quantity_digits: int
    digits_per_slot: int
    max_quantity: int
    masks_digest: str
    masks: bytes


@dataclass(frozen=True)
class IssuedMask:
    """One slot's mask digits, for the slot's own account."""

    round_id: str
    slot: int
    digits: tuple[int, ...]


@dataclass(frozen=True)
class DecryptedRound:
    """A round's declared outputs, decrypted once: tie-break rank (``None``: no trade), volume, fills."""

    round_id: str
    rank: int | None
    volume_lots: int
    fills: tuple[int, ...]


@dataclass(frozen=True)
class LogRecord:
    """One entry of the hash-chained decryption log, with its own hash."""

    sequence: int
    round_id: str
    transcript_hash: str
    outputs: dict[str, object] | None
    previous: str
    hash: str


@dataclass
class _Round:
    shape_key: tuple[int, int, int]
    owners: dict[int, Account] = field(default_factory=dict)


class CustodianCore:
    """Masks, slot owners and decryptions across rounds of any shape."""

    def __init__(self, domain: SigningDomain, clock: Callable[[], int], key_dir: Path, log_path: Path,
                 cache_dir: Path | None, simulate: bool) -> None:
        # Import concrete here, on the thread that builds the app: its tracing keeps a thread-local
        # tag stack that only the importing thread gets, and circuits are compiled on that thread.
        import fhe.artifacts
        import fhe.custodian
        import fhe.transcript  # noqa: F401
        from fhe.log import DecryptionLog

        self.verifier = Verifier(domain, clock=clock)
        self.key_dir = key_dir
        self.cache_dir = cache_dir
        self.simulate = simulate
        self.log = DecryptionLog(log_path)
        self.lock = threading.RLock()
        self._custodians: dict[tuple[int, int, int], Any] = {}
        self._rounds: dict[str, _Round] = {}

    def prepare(self, slots: int, levels: int, max_quantity: int) -> str:
        """Compile and key a shape now (call from the main thread: concrete traces only there)."""
        with self.lock:
            return str(self._custodian(slots, levels, max_quantity)._circuit.id)

    def _custodian(self, slots: int, levels: int, max_quantity: int) -> Any:
        from fhe.artifacts import compile_circuit
        from fhe.custodian import Custodian
        from fhe.shape import choose_shape

        shape = choose_shape(slots, levels, [max_quantity])
        key = (shape.slots, shape.levels, shape.quantity_digits)
        found = self._custodians.get(key)
        if found is None:
            circuit = compile_circuit(shape, simulate=self.simulate, cache_dir=self.cache_dir)
            key_dir = self.key_dir / str(circuit.id)
            check_private_tree(key_dir)
            found = Custodian(circuit, key_dir=key_dir, log=self.log)
            if key_dir.exists():
                restrict_tree(key_dir)  # concrete writes secret.keys with the umask's mode
            self._custodians[key] = found
        return found

    def open_round(self, round_id: str, slots: int, levels: int, max_quantity: int) -> OpenedRound:
        """Draw the round's masks; return ``Enc(R)`` and the shape for the operator."""
        with self.lock:
            custodian = self._custodian(slots, levels, max_quantity)
            masks = custodian.open_round(round_id)
            shape = custodian._circuit.shape
            self._rounds[round_id] = _Round((shape.slots, shape.levels, shape.quantity_digits))
            return OpenedRound(round_id, str(masks.circuit_id), masks.key_id, shape.slots, shape.levels,
                               shape.quantity_digits, shape.digits_per_slot, shape.max_quantity, masks.digest,
                               bytes(masks.ciphertext))

    def evaluation_keys(self, circuit_id: str) -> bytes:
        """Return the public evaluation keys of a circuit this custodian keyed."""
        for custodian in self._custodians.values():
            if str(custodian._circuit.id) == circuit_id:
                return bytes(custodian.evaluation_keys)
        raise NotFound(f"no circuit {circuit_id} at this custodian")

    def _round(self, round_id: str) -> _Round:
        found = self._rounds.get(round_id)
        if found is None:
            raise NotFound(f"round {round_id} was not opened at this custodian")
        return found

    def assign_slot(self, round_id: str, slot: int, holder: Account) -> None:
        """Record (from the operator) which account owns ``slot``."""
        with self.lock:
            state = self._round(round_id)
            if slot in state.owners:
                raise PolicyViolation(f"slot {slot} of round {round_id} already has an owner")
            state.owners[slot] = holder

    def issue_mask(self, signed: Signed) -> IssuedMask:
        """Give a slot's mask to the slot's own account, once, for a signed request."""
        message = signed.message
        assert isinstance(message, MaskRequest)
        round_id = str(message.round_id)
        with self.lock:
            signer = self.verifier.check(signed)
            state = self._round(round_id)
            if state.owners.get(message.slot) != signer:
                raise PolicyViolation(f"slot {message.slot} of round {round_id} does not belong to {signer}")
            mask = self._custodians[state.shape_key].issue_mask(round_id, message.slot)
            self.verifier.nonces.spend(signer, message.nonce)
            return IssuedMask(round_id, message.slot, tuple(int(d) for d in mask.digits))

    def decrypt(self, round_id: str, circuit_id: str, masks_digest: str, inputs_commitment: str,
                transcript: str, outputs: list[bytes]) -> DecryptedRound:
        """Decrypt a round's declared outputs once, under the custodian's policy; it is logged."""
        from fhe.artifacts import CircuitId
        from fhe.transcript import DecryptionRequest

        with self.lock:
            state = self._round(round_id)
            request = DecryptionRequest(round_id, CircuitId(circuit_id), masks_digest, inputs_commitment, transcript,
                                        tuple(outputs))
            out = self._custodians[state.shape_key].decrypt(request)
            return DecryptedRound(round_id, out.rank, out.volume_lots, tuple(out.fills))

    def log_entries(self) -> list[LogRecord]:
        """Return the decryption log, oldest first."""
        return [LogRecord(e.sequence, e.round_id, e.transcript_hash, e.outputs, e.previous, e.hash)
                for e in self.log.entries]
