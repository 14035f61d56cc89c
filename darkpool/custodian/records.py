"""What the custodian hands out and keeps: opened rounds, sealed masks, decryptions, refusals, log records."""

from __future__ import annotations

from dataclasses import dataclass

from darkpool.crypto.boxes import SealedBox
from darkpool.signing import Signed

__all__ = ["DecryptedRound", "DoubleGrant", "IssuedMask", "LogRecord", "OpenedRound", "Refusal", "ShapeKey"]

ShapeKey = tuple[int, int, int, int]
"""A key set's circuit: slots, levels, quantity digits and slot groups (1: the unsplit circuit)."""


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
    custodian: str
    groups: int = 1
    """Slot groups the round is evaluated in (1: unsplit); ``Enc(R)`` holds one ciphertext per group."""


@dataclass(frozen=True)
class IssuedMask:
    """One slot's mask digits sealed to its own account's box key, with the custodian's signed delivery."""

    round_id: str
    slot: int
    box: SealedBox
    delivery: Signed


@dataclass(frozen=True)
class DoubleGrant:
    """The operator's two signed grants of one slot to two accounts: evidence against it."""

    round_id: int
    slot: int
    first: Signed
    second: Signed


@dataclass(frozen=True)
class DecryptedRound:
    """A round's declared outputs, decrypted once: tie-break rank (``None``: no trade), volume, fills,
    and each filled slot's side (``None``: the slot filled nothing; its side is never decrypted)."""

    round_id: str
    rank: int | None
    volume_lots: int
    fills: tuple[int, ...]
    sides: tuple[int | None, ...]


@dataclass(frozen=True)
class Refusal:
    """A decryption request refused before anything was decrypted."""

    round_id: str
    code: str
    message: str


@dataclass(frozen=True)
class LogRecord:
    """One entry of the hash-chained decryption log, with its own hash."""

    sequence: int
    round_id: str
    transcript_hash: str
    outputs: dict[str, object] | None
    previous: str
    hash: str
