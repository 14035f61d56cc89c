"""The auditor's own commitments encoding, independent of the operator's.

The operator computes commitments with :class:`commit_reveal.CommitmentScheme`, a hand-rolled fast
path. The auditor recomputes them here with eth-abi's general encoder,
``keccak256(abi.encode(address account, string instrument, uint64 roundId, uint8 side, int64
limitTicks, uint64 quantityLots, uint64 nonce, bytes32 salt))``, so a bug in one is caught by the
other; a test holds the two equal on random orders. The commitments tree leaf is ``(address
account, uint64 nonce, bytes32 commitment)`` (``commit_reveal.LEAF_ENCODING``).
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode as abi_encode

from darkpool.crypto.keccak import keccak256
from darkpool.crypto.merkle import HexHash, StandardMerkleTree

__all__ = ["COMMITMENT_LEAF", "COMMITMENT_TYPES", "commitment_hash", "commitments_root"]

COMMITMENT_TYPES = ("address", "string", "uint64", "uint8", "int64", "uint64", "uint64", "bytes32")
COMMITMENT_LEAF = ("address", "uint64", "bytes32")


def commitment_hash(
    account: str, instrument: str, round_id: int, side: int, limit_ticks: int, quantity_lots: int, nonce: int,
    salt: bytes,
) -> bytes:
    """Return the commitment of an order and its 32-byte salt."""
    values = (account, instrument, round_id, side, limit_ticks, quantity_lots, nonce, salt)
    return keccak256(abi_encode(list(COMMITMENT_TYPES), list(values)))


def commitments_root(leaves: Sequence[tuple[str, int, bytes]]) -> HexHash:
    """Return the OpenZeppelin root of ``(account, nonce, commitment)`` leaves."""
    tree = StandardMerkleTree.of([(a, n, "0x" + c.hex()) for a, n, c in leaves], COMMITMENT_LEAF)
    return tree.root
