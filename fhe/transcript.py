"""What crosses between custodian, operator and clients, and the round transcript hash.

The transcript hash binds a decryption request to one round: the circuit id, the digest of the
custodian's ``Enc(R)`` and a salted commitment to the operator's clear inputs (masked digits,
caps, rank order). The custodian recomputes it from what it issued plus the commitment, so it
never sees the masked digits themselves (with ``R`` it could unmask them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from darkpool.domain import Side
from fhe.arrays import IntArray
from fhe.shape import CircuitId

__all__ = [
    "DecryptionRequest",
    "RoundMasks",
    "RoundOutputs",
    "digest",
    "inputs_commitment",
    "transcript_hash",
]

_TRANSCRIPT_DOMAIN = b"darkpool/fhe/transcript/v1"
_COMMITMENT_DOMAIN = b"darkpool/fhe/inputs/v1"


def digest(data: bytes) -> str:
    """Return the SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def inputs_commitment(salt: bytes, *arrays: IntArray) -> str:
    """Commit to the operator's clear inputs; the salt keeps a custodian from guessing them."""
    h = hashlib.sha256(_COMMITMENT_DOMAIN + len(salt).to_bytes(2, "big") + salt)
    for array in arrays:
        data = np.ascontiguousarray(array, dtype=np.int64)
        h.update(repr(data.shape).encode() + data.tobytes())
    return h.hexdigest()


def transcript_hash(circuit_id: CircuitId, masks_digest: str, commitment: str) -> str:
    """Return the round transcript hash: circuit id, ``Enc(R)`` digest, inputs commitment."""
    parts = (circuit_id.encode(), masks_digest.encode(), commitment.encode())
    h = hashlib.sha256(_TRANSCRIPT_DOMAIN)
    for part in parts:
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class RoundMasks:
    """The custodian's ``Enc(R)`` for one round, as the operator receives it."""

    round_id: str
    circuit_id: CircuitId
    key_id: str
    slots: int
    digits_per_slot: int
    ciphertext: bytes

    @property
    def digest(self) -> str:
        return digest(self.ciphertext)


@dataclass(frozen=True, slots=True)
class DecryptionRequest:
    """The operator's request to decrypt one round's outputs (and nothing else)."""

    round_id: str
    circuit_id: CircuitId
    masks_digest: str
    inputs_commitment: str
    transcript_hash: str
    outputs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class RoundOutputs:
    """The decrypted outputs: the only values of a round anyone learns.

    ``rank`` is the winning level's tie-break rank (``None`` when nothing trades), ``fills``
    one value per circuit slot, in slot (time priority) order, and ``sides`` each filled slot's
    side (``None`` for a slot that fills nothing: its side is never decrypted).
    """

    round_id: str
    rank: int | None
    volume_lots: int
    fills: tuple[int, ...]
    sides: tuple[Side | None, ...] = ()
