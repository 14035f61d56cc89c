"""Commit-reveal commitments and the round's commitments tree.

Adapter over the encoding of issue 4 (``commit_reveal``): ``keccak256(abi.encode(address account,
string instrument, uint64 roundId, uint8 side, int64 limitTicks, uint64 quantityLots, uint64 nonce,
bytes32 salt))``, and the commitments tree leaf ``(address account, uint64 nonce, bytes32 commitment)``.
A test holds this equal to ``commit_reveal``'s own scheme.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from eth_abi.abi import encode as abi_encode

from darkpool.errors import InvalidReveal
from darkpool.hashing import keccak256
from darkpool.merkle import HexHash, StandardMerkleTree

__all__ = ["COMMITMENT_LEAF", "COMMITMENT_TYPES", "check_reveal", "commitment_hash", "commitments_root"]

COMMITMENT_TYPES = ("address", "string", "uint64", "uint8", "int64", "uint64", "uint64", "bytes32")
COMMITMENT_LEAF = ("address", "uint64", "bytes32")


def commitment_hash(
    account: str, instrument: str, round_id: int, side: int, limit_ticks: int, quantity_lots: int, nonce: int,
    salt: bytes,
) -> bytes:
    """Return the commitment of an order and its 32-byte salt."""
    values = (account, instrument, round_id, side, limit_ticks, quantity_lots, nonce, salt)
    return keccak256(abi_encode(list(COMMITMENT_TYPES), list(values)))


def check_reveal(committed: bytes, revealed: bytes) -> None:
    """Raise the opaque :class:`InvalidReveal` unless the two hashes are equal (constant time)."""
    if not hmac.compare_digest(committed, revealed):
        raise InvalidReveal("reveal does not open its commitment")


def commitments_root(leaves: Sequence[tuple[str, int, bytes]]) -> HexHash:
    """Return the OpenZeppelin root of ``(account, nonce, commitment)`` leaves."""
    tree = StandardMerkleTree.of([(a, n, "0x" + c.hex()) for a, n, c in leaves], COMMITMENT_LEAF)
    return tree.root
