"""Check a ``standard-v1`` Merkle tree dump, naming the first flaw found.

Checks run in this order: the shape of the document, the tree size against the number of
values, each value's leaf hash against its tree slot (in ``values`` order), then each internal
node against its two children from the bottom of the tree up, so a tampered node is named itself
rather than through its ancestors. Stricter than OpenZeppelin's ``load`` in one way that every
dump made by its ``StandardMerkleTree.of`` satisfies: each leaf slot holds exactly one value (the
tree has ``2n - 1`` nodes and no two values share a slot), so no leaf goes unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from darkpool.crypto.abi import validate_leaf_encoding
from darkpool.crypto.merkle_nodes import DUMP_FORMAT, IndexedValue, hex_hash, leaf_hash, node_hash, parse_hash
from darkpool.errors import MerkleDumpError, ValidationError

__all__ = ["SIMPLE_FORMAT", "check_dump", "check_simple_dump"]

SIMPLE_FORMAT = "simple-v1"


def _shape(data: Mapping[str, Any], format_name: str = DUMP_FORMAT) -> tuple[list[str], list[Any], list[Any]]:
    if not isinstance(data, Mapping):
        raise MerkleDumpError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") != format_name:
        raise MerkleDumpError(f"format: expected {format_name!r}, got {data.get('format')!r}")
    encoding = data.get("leafEncoding") if format_name == DUMP_FORMAT else ["bytes32"]
    if not isinstance(encoding, list) or not encoding or not all(isinstance(t, str) for t in encoding):
        raise MerkleDumpError(f"leafEncoding: expected a non-empty list of ABI types, got {encoding!r}")
    tree = data.get("tree")
    if not isinstance(tree, list) or not tree:
        raise MerkleDumpError(f"tree: expected a non-empty list of hashes, got {tree!r:.80}")
    values = data.get("values")
    if not isinstance(values, list) or not values:
        raise MerkleDumpError(f"values: expected a non-empty list, got {values!r:.80}")
    return encoding, tree, values


def _nodes(tree: list[Any], value_count: int) -> list[bytes]:
    nodes = []
    for index, text in enumerate(tree):
        try:
            nodes.append(parse_hash(text))
        except ValidationError:
            raise MerkleDumpError(f"tree[{index}]: expected 0x plus 64 hex digits, got {text!r}") from None
    if len(nodes) != 2 * value_count - 1:
        raise MerkleDumpError(f"tree: expected {2 * value_count - 1} nodes for {value_count} values, got {len(nodes)}")
    return nodes


def _check_leaves(nodes: list[bytes], values: list[Any], hash_value: Callable[[Any], bytes]) -> list[IndexedValue]:
    indexed: list[IndexedValue] = []
    seen: dict[int, int] = {}
    for position, entry in enumerate(values):
        where = f"values[{position}]"
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise MerkleDumpError(f"{where}: expected {{'value': ..., 'treeIndex': n}}, got {entry!r:.80}")
        tree_index = entry.get("treeIndex")
        if isinstance(tree_index, bool) or not isinstance(tree_index, int):
            raise MerkleDumpError(f"{where}.treeIndex: expected an integer, got {tree_index!r}")
        if not len(values) - 1 <= tree_index < len(nodes):
            raise MerkleDumpError(
                f"{where}.treeIndex: {tree_index} is not a leaf slot (expected {len(values) - 1}..{len(nodes) - 1})"
            )
        if tree_index in seen:
            raise MerkleDumpError(f"{where}.treeIndex: {tree_index} is already used by values[{seen[tree_index]}]")
        seen[tree_index] = position
        try:
            expected = hash_value(entry["value"])
        except ValidationError as error:
            raise MerkleDumpError(f"{where}.value: {error}") from None
        if expected != nodes[tree_index]:
            raise MerkleDumpError(
                f"{where}: leaf hash of {entry['value']!r:.120} is {hex_hash(expected)}, "
                f"but tree[{tree_index}] is {hex_hash(nodes[tree_index])}"
            )
        value = entry["value"]
        indexed.append(IndexedValue(tuple(value) if isinstance(value, list) else (value,), tree_index))
    return indexed


def _check_internal_nodes(nodes: list[bytes], value_count: int) -> None:
    for index in range(value_count - 2, -1, -1):
        expected = node_hash(nodes[2 * index + 1], nodes[2 * index + 2])
        if expected != nodes[index]:
            raise MerkleDumpError(
                f"tree[{index}]: hash of children tree[{2 * index + 1}], tree[{2 * index + 2}] is "
                f"{hex_hash(expected)}, but the dump says {hex_hash(nodes[index])}"
            )


def check_dump(data: Mapping[str, Any]) -> tuple[list[bytes], list[IndexedValue], list[str]]:
    """Return the nodes, values and leaf encoding of a consistent dump; raise ``MerkleDumpError``."""
    encoding, tree, values = _shape(data)
    nodes = _nodes(tree, len(values))
    try:
        validate_leaf_encoding(encoding)
    except ValidationError as error:
        raise MerkleDumpError(f"leafEncoding: {error}") from None

    def standard_leaf(value: Any) -> bytes:
        if not isinstance(value, list):
            raise ValidationError(f"expected a list of {len(encoding)} values, got {value!r:.80}")
        return leaf_hash(encoding, value)

    indexed = _check_leaves(nodes, values, standard_leaf)
    _check_internal_nodes(nodes, len(values))
    return nodes, indexed, list(encoding)


def check_simple_dump(data: Mapping[str, Any]) -> list[bytes]:
    """Check an OpenZeppelin ``SimpleMerkleTree`` (``simple-v1``) dump; return its nodes."""
    _, tree, values = _shape(data, SIMPLE_FORMAT)
    if data.get("hash") is not None:
        raise MerkleDumpError(f"hash: a custom node hash ({data.get('hash')!r}) cannot be recomputed")
    nodes = _nodes(tree, len(values))
    _check_leaves(nodes, values, parse_hash)  # a simple tree's leaf is its bytes32 value itself
    _check_internal_nodes(nodes, len(values))
    return nodes
