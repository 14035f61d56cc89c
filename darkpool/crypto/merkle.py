"""Merkle trees identical to OpenZeppelin's ``StandardMerkleTree`` (``@openzeppelin/merkle-tree``).

The node array, hashes and proofs are :mod:`darkpool.crypto.merkle_nodes` (re-exported here, the
one import callers need); leaves are sorted by hash unless ``sort_leaves=False`` and laid at the
end of the array in reverse order. Dumps use the ``standard-v1`` JSON format, so a tree written
here loads in OpenZeppelin's library and the other way round; :mod:`darkpool.crypto.merkle_dump`
checks them. Leaf values are encoded by :func:`darkpool.crypto.abi.values_encoder`.

Hashes are ``bytes`` inside and ``0x``-prefixed lowercase hex at the API, as in OpenZeppelin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from darkpool.crypto.abi import values_encoder
from darkpool.crypto.keccak import new_keccak
from darkpool.crypto.merkle_dump import check_dump
from darkpool.crypto.merkle_nodes import (
    DUMP_FORMAT,
    HexHash,
    IndexedValue,
    MultiProof,
    get_multiproof,
    get_proof,
    hex_hash,
    leaf_hash,
    make_tree,
    node_hash,
    parse_hash,
    process_multiproof,
    process_proof,
)
from darkpool.errors import InvalidProof, MerkleDumpError, ValidationError
from darkpool.jsontext import loads_bounded

__all__ = [
    "MAX_DUMP_NESTING",
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

_KECCAK = new_keccak

MAX_DUMP_NESTING = 16
"""Deepest JSON nesting a tree dump may have (values are arrays of scalars inside a list of entries)."""


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
        nodes, values, leaf_encoding = check_dump(data)
        tree = cls(nodes, values, leaf_encoding)
        tree._verbatim = True  # dump the values exactly as they were loaded
        return tree

    @classmethod
    def loads(cls, text: str) -> StandardMerkleTree:
        """Load a ``standard-v1`` dump from JSON text."""
        data = loads_bounded(text, max_depth=MAX_DUMP_NESTING, error=MerkleDumpError, what="dump")
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
