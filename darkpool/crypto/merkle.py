"""Merkle trees identical to OpenZeppelin's ``StandardMerkleTree`` (``@openzeppelin/merkle-tree``).

A leaf is ``keccak256(keccak256(abi.encode(leaf_encoding, value)))``; a node is the keccak256 of
its two children sorted as bytes32, so proofs carry no left/right flags and verify with
OpenZeppelin Contracts' ``MerkleProof``. The tree is a complete binary tree in an array of
``2n - 1`` hashes: root at 0, children of ``i`` at ``2i + 1`` and ``2i + 2``, leaves at the end in
reverse order, sorted by hash unless ``sort_leaves=False``. Dumps use the ``standard-v1`` JSON
format, so a tree written here loads in OpenZeppelin's library and the other way round.

Hashes are ``bytes`` inside and ``0x``-prefixed lowercase hex at the API, as in OpenZeppelin.
Leaf values are encoded by :func:`darkpool.crypto.abi.values_encoder`; dumps are checked by
:mod:`darkpool.crypto.merkle_dump`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NewType

from darkpool.crypto.abi import values_encoder
from darkpool.crypto.keccak import new_keccak
from darkpool.errors import InvalidProof, MerkleDumpError, ValidationError

__all__ = [
    "DUMP_FORMAT",
    "HexHash",
    "IndexedValue",
    "MultiProof",
    "StandardMerkleTree",
    "get_multiproof",
    "get_proof",
    "hex_hash",
    "leaf_hash",
    "make_tree",
    "node_hash",
    "parse_hash",
    "process_multiproof",
    "process_proof",
    "require_proof",
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


# --- core tree ------------------------------------------------------------------------------


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


# --- the standard tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedValue:
    """A leaf value and the index of its leaf in the tree array."""

    value: tuple[object, ...]
    tree_index: int


class StandardMerkleTree:
    """An OpenZeppelin ``StandardMerkleTree``: build, prove, verify, dump and load."""

    __slots__ = ("_indexed", "_lookup", "_nodes", "_raw", "_tree_index", "_verbatim", "leaf_encoding")

    def __init__(self, nodes: list[bytes], values: Sequence[IndexedValue], leaf_encoding: Sequence[str]) -> None:
        """Wrap an already built tree; use :meth:`of` or :meth:`load` instead."""
        self._nodes = nodes
        self._raw: list[tuple[object, ...]] = [tuple(v.value) for v in values]
        self._tree_index: list[int] = [v.tree_index for v in values]
        self._indexed: tuple[IndexedValue, ...] | None = None
        self.leaf_encoding: tuple[str, ...] = tuple(leaf_encoding)
        self._lookup: dict[bytes, int] | None = None
        self._verbatim = False

    @classmethod
    def of(
        cls, values: Sequence[Sequence[object]], leaf_encoding: Sequence[str], *, sort_leaves: bool = True
    ) -> StandardMerkleTree:
        """Build the tree of ``values``, each a sequence matching ``leaf_encoding``."""
        encode = values_encoder(tuple(leaf_encoding))
        keccak = _KECCAK
        hashes = [keccak(keccak(encode(value)).digest()).digest() for value in values]
        order = sorted(range(len(hashes)), key=hashes.__getitem__) if sort_leaves else range(len(hashes))
        nodes = make_tree([hashes[i] for i in order])
        tree_index = [0] * len(hashes)
        last = len(nodes) - 1
        for leaf_position, value_index in enumerate(order):
            tree_index[value_index] = last - leaf_position
        tree = cls.__new__(cls)
        tree._nodes = nodes
        tree._raw = [value if type(value) is tuple else tuple(value) for value in values]
        tree._tree_index = tree_index
        tree._indexed = None
        tree.leaf_encoding = tuple(leaf_encoding)
        tree._lookup = None
        tree._verbatim = False
        return tree

    @property
    def values(self) -> tuple[IndexedValue, ...]:
        """Return each value with the index of its leaf in the node array, in input order."""
        if self._indexed is None:
            self._indexed = tuple(map(IndexedValue, self._raw, self._tree_index))
        return self._indexed

    @property
    def root(self) -> HexHash:
        """Return the root as ``0x`` hex."""
        return hex_hash(self._nodes[0])

    @property
    def root_bytes(self) -> bytes:
        """Return the root as 32 bytes."""
        return self._nodes[0]

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """Return the node array (root first, leaves last in reverse order)."""
        return tuple(self._nodes)

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        return iter(self._raw)

    def leaf_hash(self, value: Sequence[object]) -> bytes:
        """Return the leaf hash of ``value`` under this tree's encoding."""
        return leaf_hash(self.leaf_encoding, value)

    def leaf_lookup(self, value: Sequence[object]) -> int:
        """Return the index in :attr:`values` of ``value``, or raise ``ValidationError``."""
        if self._lookup is None:
            self._lookup = {self._nodes[t]: i for i, t in enumerate(self._tree_index)}
        found = self._lookup.get(self.leaf_hash(value))
        if found is None:
            raise ValidationError(f"value {list(value)!r} is not in the tree")
        return found

    def _value_index(self, index_or_value: int | Sequence[object]) -> int:
        if isinstance(index_or_value, int):
            if not 0 <= index_or_value < len(self._raw):
                raise ValidationError(f"value index {index_or_value} out of range 0..{len(self._raw) - 1}")
            return index_or_value
        return self.leaf_lookup(index_or_value)

    def get_proof_bytes(self, index_or_value: int | Sequence[object]) -> list[bytes]:
        """Return the proof of a value (by index in :attr:`values`, or the value itself)."""
        return get_proof(self._nodes, self._tree_index[self._value_index(index_or_value)])

    def get_proof(self, index_or_value: int | Sequence[object]) -> list[HexHash]:
        """Return the proof of a value as ``0x`` hex hashes, as OpenZeppelin does."""
        return [hex_hash(node) for node in self.get_proof_bytes(index_or_value)]

    def get_multiproof(self, indices_or_values: Sequence[int | Sequence[object]]) -> MultiProof:
        """Return a multiproof of several values (by index in :attr:`values`, or the values)."""
        tree_indices = [self._tree_index[self._value_index(item)] for item in indices_or_values]
        return get_multiproof(self._nodes, tree_indices)

    @staticmethod
    def verify(
        root: str | bytes, leaf_encoding: Sequence[str], value: Sequence[object], proof: Sequence[str | bytes]
    ) -> bool:
        """Return whether ``proof`` proves ``value`` under ``root``."""
        try:
            computed = process_proof(leaf_hash(leaf_encoding, value), [parse_hash(p) for p in proof])
            return computed == parse_hash(root)
        except ValidationError:
            return False

    def render(self) -> str:
        """Return the node array as an indented text tree."""
        lines = []
        stack: list[tuple[int, str]] = [(0, "")]
        while stack:
            index, prefix = stack.pop()
            lines.append(f"{prefix}{index}) {hex_hash(self._nodes[index])}")
            if 2 * index + 2 < len(self._nodes):
                stack.append((2 * index + 2, prefix + "  "))
                stack.append((2 * index + 1, prefix + "  "))
        return "\n".join(lines)

    def dump(self) -> dict[str, Any]:
        """Return the ``standard-v1`` dump (a JSON-ready dict)."""
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": [hex_hash(node) for node in self._nodes],
            "values": [
                {"value": list(value) if self._verbatim else [_render(e) for e in value], "treeIndex": index}
                for value, index in zip(self._raw, self._tree_index, strict=True)
            ],
        }

    def dumps(self) -> str:
        """Return the ``standard-v1`` dump as compact JSON text."""
        return json.dumps(self.dump(), separators=(",", ":"))

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Load and fully check a ``standard-v1`` dump; raise ``MerkleDumpError`` at the first flaw."""
        from darkpool.crypto.merkle_dump import check_dump

        nodes, values, leaf_encoding = check_dump(data)
        tree = cls(nodes, values, leaf_encoding)
        tree._verbatim = True  # dump the values exactly as they were loaded
        return tree

    @classmethod
    def loads(cls, text: str) -> StandardMerkleTree:
        """Load a ``standard-v1`` dump from JSON text."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise MerkleDumpError(f"dump is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise MerkleDumpError(f"expected a JSON object, got {type(data).__name__}")
        return cls.load(data)


def _render(element: object) -> object:
    """Render a value for JSON as OpenZeppelin users write it: big integers as decimal strings."""
    if isinstance(element, bool) or element is None:
        return element
    if isinstance(element, int):
        return str(element)
    if isinstance(element, bytes | bytearray):
        return "0x" + bytes(element).hex()
    if isinstance(element, list | tuple):
        return [_render(item) for item in element]
    return element


def require_proof(
    root: str | bytes, leaf_encoding: Sequence[str], value: Sequence[object], proof: Sequence[str | bytes]
) -> None:
    """Raise ``InvalidProof`` unless ``proof`` proves ``value`` under ``root``."""
    if not StandardMerkleTree.verify(root, leaf_encoding, value, proof):
        raise InvalidProof("Merkle proof does not verify")
