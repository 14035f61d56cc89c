"""Commitments: ``keccak256(abi.encode(order fields, salt))`` and the reveal that opens one.

The committed tuple is ``abi.encode(address account, string instrument, uint64 roundId, uint8 side,
int64 limitTicks, uint64 quantityLots, uint64 nonce, bytes32 salt)``, so a contract can recompute
it with one ``keccak256(abi.encode(...))``. The instrument and round are committed too, so a reveal
cannot be carried into another round. The salt is 32 random bytes: without it the few plausible
(side, limit, quantity) triples could be found by trying them all.

The round's commitments tree uses the leaf ``(address account, uint64 nonce, bytes32 commitment)``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NewType

from darkpool.crypto.abi import dynamic_tail, uint_word

# The C binding darkpool.crypto.keccak wraps, called bare in per-order loops to save a call per hash.
from darkpool.crypto.keccak import new_keccak as _keccak
from darkpool.domain import Account, Lots, Side, Ticks, account
from darkpool.errors import ValidationError

__all__ = [
    "COMMITMENT_TYPES",
    "CommitKey",
    "CommitmentHash",
    "CommitmentScheme",
    "LEAF_ENCODING",
    "Reveal",
    "Salt",
    "commitment_leaf",
    "new_salt",
]

Salt = NewType("Salt", bytes)
"""32 secret random bytes that blind a commitment."""
CommitmentHash = NewType("CommitmentHash", bytes)
"""A 32-byte ``keccak256(abi.encode(order fields, salt))``."""
CommitKey = tuple[Account, int]
"""A commitment's identity in a round: ``(account, nonce)``."""

COMMITMENT_TYPES = ("address", "string", "uint64", "uint8", "int64", "uint64", "uint64", "bytes32")
"""ABI types of the committed tuple (account, instrument, roundId, side, limitTicks, quantityLots, nonce, salt)."""
LEAF_ENCODING = ("address", "uint64", "bytes32")
"""OpenZeppelin leaf encoding of the commitments tree: (account, nonce, commitment)."""

_UINT64 = 1 << 64
_INT64 = 1 << 63
_PAD12 = bytes(12)
_PAD24 = bytes(24)


def commitment_leaf(address: bytes, nonce: int, commitment: bytes) -> bytes:
    """The OpenZeppelin leaf hash of ``(account, nonce, commitment)`` (``address`` as 20 raw bytes).

    ``keccak256(keccak256(abi.encode(address, uint64, bytes32)))``, written out for speed; tests
    hold it equal to :class:`darkpool.crypto.merkle.StandardMerkleTree`'s own encoding.
    """
    if len(address) != 20 or len(commitment) != 32 or not 0 <= nonce < _UINT64:
        raise ValidationError("commitment leaf needs a 20-byte address, a uint64 nonce and 32 bytes")
    encoded = b"".join((_PAD12, address, _PAD24, nonce.to_bytes(8, "big"), commitment))
    return bytes(_keccak(_keccak(encoded).digest()).digest())


def new_salt(randbytes: Callable[[int], bytes] = secrets.token_bytes) -> Salt:
    """Draw a fresh 32-byte salt from ``randbytes`` (the OS CSPRNG unless a test injects one)."""
    salt = randbytes(32)
    if len(salt) != 32:
        raise ValidationError(f"salt source must give 32 bytes, gave {len(salt)}")
    return Salt(bytes(salt))


def _uint64(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT64:
        raise ValidationError(f"{name} must be an integer in 0..2**64-1, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Reveal:
    """The opening of a commitment: the order's fields and the salt, valid by construction.

    A reveal carries no signature of its own: it is authenticated by the signed commitment it
    opens (see :mod:`commit_reveal._round`).
    """

    account: Account
    nonce: int
    side: Side
    limit_ticks: Ticks
    quantity_lots: Lots
    salt: Salt

    def __post_init__(self) -> None:
        object.__setattr__(self, "account", account(self.account))
        _uint64("reveal nonce", self.nonce)
        if not isinstance(self.side, Side):
            raise ValidationError(f"reveal side must be a Side, got {self.side!r}")
        limit: object = self.limit_ticks
        if isinstance(limit, bool) or not isinstance(limit, int) or not -_INT64 <= limit < _INT64:
            raise ValidationError(f"reveal limit_ticks must fit int64, got {limit!r}")
        if _uint64("reveal quantity_lots", self.quantity_lots) < 1:
            raise ValidationError(f"reveal quantity_lots must be at least 1, got {self.quantity_lots}")
        if not isinstance(self.salt, bytes) or len(self.salt) != 32:
            raise ValidationError(f"reveal salt must be 32 bytes, got {self.salt!r}")

    @property
    def key(self) -> CommitKey:
        return (self.account, self.nonce)


@dataclass(frozen=True, slots=True)
class CommitmentScheme:
    """Compute commitments for one round, with the round's constant words encoded once."""

    instrument: str
    round_id: int

    def __post_init__(self) -> None:
        _uint64("round id", self.round_id)
        if not isinstance(self.instrument, str) or not self.instrument:
            raise ValidationError(f"instrument must be a non-empty string, got {self.instrument!r}")

    @property
    def _middle(self) -> bytes:
        # Head word 2 is the offset of the string's tail: eight head words of 32 bytes.
        return uint_word(8 * 32) + uint_word(self.round_id)

    @property
    def _tail(self) -> bytes:
        return dynamic_tail(self.instrument.encode())

    def commitment(self, reveal: Reveal) -> CommitmentHash:
        """Return ``keccak256(abi.encode(...))`` of the order and salt in ``reveal``."""
        return self.hasher()(reveal)

    def hasher(self) -> Callable[[Reveal], CommitmentHash]:
        """Return a fast commitment function for many reveals of this round."""
        middle, tail = self._middle, self._tail
        pad12 = bytes(12)

        def commitment(reveal: Reveal) -> CommitmentHash:
            return CommitmentHash(_keccak(b"".join((
                pad12, bytes.fromhex(reveal.account[2:]), middle, reveal.side.to_bytes(32, "big"),
                reveal.limit_ticks.to_bytes(32, "big", signed=True), reveal.quantity_lots.to_bytes(32, "big"),
                reveal.nonce.to_bytes(32, "big"), reveal.salt, tail,
            ))).digest())

        return commitment
