"""The node layer of OpenZeppelin's Merkle trees: hashes, the node array, proofs and multiproofs.

A leaf is ``keccak256(keccak256(abi.encode(leaf_encoding, value)))``; a node is the keccak256 of
its two children sorted as bytes32, so proofs carry no left/right flags and verify with
OpenZeppelin Contracts' ``MerkleProof``. The tree is a complete binary tree in an array of
``2n - 1`` hashes: root at 0, children of ``i`` at ``2i + 1`` and ``2i + 2``, leaves at the end.
:class:`darkpool.crypto.merkle.StandardMerkleTree` is built on this; so is the dump checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NewType

from darkpool.crypto.abi import values_encoder
from darkpool.crypto.keccak import new_keccak
from darkpool.errors import InvalidProof, ValidationError

__all__ = [
    "DUMP_FORMAT",
    "HexHash",
    "IndexedValue",
    "MultiProof",
    "get_multiproof",
    "get_proof",
    "hex_hash",
    "leaf_hash",
    "make_tree",
    "node_hash",
    "parse_hash",
    "process_multiproof",
    "process_proof",
]

DUMP_FORMAT = "standard-v1"

HexHash = NewType("HexHash", str)
"""A 32-byte hash as ``0x`` followed by 64 lowercase hex digits."""


_KECCAK = new_keccak


def hex_hash(digest: bytes) -> HexHash:
    """Render a 32-byte hash as lowercase ``0x`` hex."""
    return HexHash("0x" + digest.hex())


def parse_hash(text: object) -> bytes:
    """Parse a 32-byte hash from ``0x`` hex (or raw bytes), or raise ``ValidationError``."""
    if isinstance(text, bytes | bytearray) and len(text) == 32:
        return bytes(text)
    if isinstance(text, str):
        digits = text[2:] if text[:2] in ("0x", "0X") else text
        if len(digits) == 64:
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    raise ValidationError(f"expected a 32-byte hash as 0x plus 64 hex digits, got {text!r}")


def leaf_hash(leaf_encoding: Sequence[str], value: Sequence[object]) -> bytes:
    """Return the standard leaf hash ``keccak256(keccak256(abi.encode(value)))``."""
    return bytes(_KECCAK(_KECCAK(values_encoder(tuple(leaf_encoding))(value)).digest()).digest())


def node_hash(a: bytes, b: bytes) -> bytes:
    """Return the commutative node hash: keccak256 of the two children sorted as bytes32."""
    return bytes(_KECCAK(a + b if a <= b else b + a).digest())


def make_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """Return the ``2n - 1`` node array of a tree over ``leaves`` (given in leaf order)."""
    count = len(leaves)
    if count == 0:
        raise ValidationError("expected at least one leaf, got none")
    for leaf in leaves:
        if len(leaf) != 32:
            raise ValidationError(f"expected 32-byte leaves, got {len(leaf)} bytes")
    tree: list[bytes] = [b""] * (count - 1)
    tree.extend(reversed(leaves))
    keccak = _KECCAK
    end = count - 1
    while end > 0:
        # Nodes [start, end) have all their children at indices >= end, which are done already.
        start = end // 2
        kids = tree[2 * start + 1 : 2 * end + 1]
        tree[start:end] = [
            keccak(a + b if a <= b else b + a).digest() for a, b in zip(kids[0::2], kids[1::2], strict=True)
        ]
        end = start
    return tree


def _is_leaf_index(tree_size: int, index: int) -> bool:
    return 0 <= index < tree_size and 2 * index + 1 >= tree_size


def get_proof(tree: Sequence[bytes], index: int) -> list[bytes]:
    """Return the sibling hashes from the leaf at ``index`` up to the root."""
    if not _is_leaf_index(len(tree), index):
        raise ValidationError(f"index {index} is not a leaf of a tree of {len(tree)} nodes")
    proof = []
    while index > 0:
        proof.append(tree[index + 1 if index % 2 else index - 1])
        index = (index - 1) // 2
    return proof


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root that ``proof`` climbs to from ``leaf`` (OpenZeppelin ``processProof``)."""
    computed = leaf
    for sibling in proof:
        computed = node_hash(computed, sibling)
    return computed


@dataclass(frozen=True)
class MultiProof:
    """A proof of several leaves at once, in OpenZeppelin ``multiProofVerify`` order."""

    leaves: tuple[bytes, ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]


def get_multiproof(tree: Sequence[bytes], indices: Sequence[int]) -> MultiProof:
    """Return a multiproof for the leaves at tree ``indices``."""
    for index in indices:
        if not _is_leaf_index(len(tree), index):
            raise ValidationError(f"index {index} is not a leaf of a tree of {len(tree)} nodes")
    ordered = sorted(indices, reverse=True)
    if len(set(ordered)) != len(ordered):
        raise ValidationError("cannot prove a duplicated index")
    stack = list(ordered)
    proof: list[bytes] = []
    flags: list[bool] = []
    while stack and stack[0] > 0:
        j = stack.pop(0)
        sibling = j + 1 if j % 2 else j - 1
        if stack and stack[0] == sibling:
            flags.append(True)
            stack.pop(0)
        else:
            flags.append(False)
            proof.append(tree[sibling])
        stack.append((j - 1) // 2)
    if not ordered:
        proof.append(tree[0])
    return MultiProof(tuple(tree[i] for i in ordered), tuple(proof), tuple(flags))


def process_multiproof(multiproof: MultiProof) -> bytes:
    """Return the root a multiproof climbs to, or raise ``InvalidProof`` if it is malformed."""
    leaves, proof, flags = list(multiproof.leaves), list(multiproof.proof), multiproof.proof_flags
    if len(proof) < flags.count(False) or len(leaves) + len(proof) != len(flags) + 1:
        raise InvalidProof("malformed multiproof")
    for flag in flags:
        a = leaves.pop(0)
        b = leaves.pop(0) if flag else proof.pop(0)
        leaves.append(node_hash(a, b))
    return leaves[0] if leaves else proof[0]


@dataclass(frozen=True)
class IndexedValue:
    """A leaf value and the index of its leaf in the tree array."""

    value: tuple[object, ...]
    tree_index: int
