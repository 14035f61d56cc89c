"""The auditor's own OpenZeppelin ``StandardMerkleTree`` root, written apart from the operator's.

Small on purpose, and sharing no code with :mod:`darkpool.crypto.merkle` (the operator's) beyond
eth-abi and eth-hash, so a bug in either is caught by the other (tests hold the roots equal):
a leaf is ``keccak256(keccak256(abi.encode(types, values)))``; leaves are sorted, laid at the end
of a ``2n - 1`` array in reverse order, and each node is the keccak256 of its two children sorted.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode
from eth_utils.crypto import keccak

__all__ = ["EMPTY_ROOT", "hex_root", "standard_leaf", "standard_root"]

EMPTY_ROOT = "0x" + "00" * 32
"""What the operator publishes, and the vault stores, for a tree without leaves."""


def standard_leaf(types: Sequence[str], values: Sequence[object]) -> bytes:
    """Return ``keccak256(keccak256(abi.encode(values)))`` (values as eth-abi takes them)."""
    return bytes(keccak(keccak(encode(list(types), list(values)))))


def standard_root(leaves: Sequence[bytes]) -> bytes:
    """Return the root over leaf hashes in any order; raise ``ValueError`` for none."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    ordered = sorted(leaves)
    tree = [b""] * (len(ordered) - 1) + ordered[::-1]
    for i in range(len(ordered) - 2, -1, -1):
        left, right = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = bytes(keccak(min(left, right) + max(left, right)))
    return tree[0]


def hex_root(leaves: Sequence[bytes]) -> str:
    """Return the root as 0x hex, or :data:`EMPTY_ROOT` when there are no leaves."""
    return "0x" + standard_root(leaves).hex() if leaves else EMPTY_ROOT
