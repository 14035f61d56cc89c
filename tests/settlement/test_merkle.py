"""StandardMerkleTree: OpenZeppelin's published vectors, proofs, dumps and tampering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.crypto.abi import abi_encode_values
from darkpool.crypto.keccak import keccak256
from darkpool.crypto.merkle import (
    StandardMerkleTree,
    get_proof,
    leaf_hash,
    make_tree,
    node_hash,
    process_multiproof,
    process_proof,
    require_proof,
)
from darkpool.errors import InvalidProof, MerkleDumpError, ValidationError

VECTORS = Path(__file__).parent / "vectors"
LETTERS = [[c] for c in "abcdef"]
README_VALUES: list[list[object]] = [
    ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
    ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
]
README_ROOT = "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uints = st.integers(min_value=0, max_value=2**256 - 1)
balances = st.lists(st.tuples(addresses, uints), min_size=1, max_size=40, unique_by=lambda v: v[0])


def _vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def _naive_tree(leaves: list[bytes]) -> list[bytes]:
    tree = [b""] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def test_of_when_oz_sorted_vector_dump_is_identical() -> None:
    tree = StandardMerkleTree.of(LETTERS, ["string"])
    assert tree.dump() == _vector("oz-standard-v1.sorted.1_0_6.json")
    assert tree.root == "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8"
    assert tree.values[0].tree_index == 8


def test_of_when_unsorted_vector_dump_is_identical() -> None:
    tree = StandardMerkleTree.of(LETTERS, ["string"], sort_leaves=False)
    assert tree.dump() == _vector("oz-standard-v1.unsorted.1_0_6.json")


def test_of_when_readme_example_root_matches() -> None:
    tree = StandardMerkleTree.of(README_VALUES, ["address", "uint256"])
    assert tree.root == README_ROOT
    as_ints = [[a, int(v)] for a, v in README_VALUES]  # type: ignore[call-overload]
    assert StandardMerkleTree.of(as_ints, ["address", "uint256"]).root == README_ROOT


def test_load_when_oz_vector_keeps_values_and_root() -> None:
    for name in ("oz-standard-v1.sorted.1_0_6.json", "oz-standard-v1.unsorted.1_0_6.json"):
        data = _vector(name)
        tree = StandardMerkleTree.load(data)
        assert tree.root == data["tree"][0]
        assert tree.dump() == data


def test_leaf_hash_when_fast_path_then_equals_eth_abi_double_keccak() -> None:
    value = ["0x" + "ab" * 20, 7, "0x" + "cd" * 32]
    types = ["address", "uint256", "bytes32"]
    raw = encode(types, [bytes.fromhex("ab" * 20), 7, bytes.fromhex("cd" * 32)])
    assert abi_encode_values(types, value) == raw
    assert leaf_hash(types, value) == keccak256(keccak256(raw))


@settings(max_examples=60, deadline=None)
@given(balances)
def test_get_proof_when_any_tree_then_every_value_verifies(values: list[tuple[str, int]]) -> None:
    tree = StandardMerkleTree.of(values, ["address", "uint256"])
    for index, value in enumerate(values):
        proof = tree.get_proof(index)
        assert proof == tree.get_proof(value)
        assert StandardMerkleTree.verify(tree.root, ["address", "uint256"], value, proof)
    assert list(tree.nodes) == _naive_tree([tree.nodes[-1 - i] for i in range(len(values))])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70))
def test_make_tree_when_any_leaf_count_then_equals_naive_layout(leaves: list[bytes]) -> None:
    assert make_tree(leaves) == _naive_tree(leaves)


@settings(max_examples=40, deadline=None)
@given(st.tuples(uints, st.lists(st.text(max_size=8), max_size=3)))
def test_leaf_hash_when_dynamic_types_then_uses_eth_abi(value: tuple[int, list[str]]) -> None:
    raw = encode(["uint256", "string[]"], list(value))
    assert leaf_hash(["uint256", "string[]"], [str(value[0]), value[1]]) == keccak256(keccak256(raw))


@settings(max_examples=40, deadline=None)
@given(balances, st.data())
def test_get_multiproof_when_any_subset_then_climbs_to_root(values: list[tuple[str, int]], data: Any) -> None:
    tree = StandardMerkleTree.of(values, ["address", "uint256"])
    picks = data.draw(st.lists(st.integers(0, len(values) - 1), unique=True))
    assert process_multiproof(tree.get_multiproof(picks)) == tree.root_bytes


def test_verify_when_value_or_root_differs_returns_false() -> None:
    tree = StandardMerkleTree.of(README_VALUES, ["address", "uint256"])
    proof = tree.get_proof(0)
    other = [README_VALUES[0][0], "5000000000000000001"]
    assert not StandardMerkleTree.verify(tree.root, ["address", "uint256"], other, proof)
    assert not StandardMerkleTree.verify("0x" + "00" * 32, ["address", "uint256"], README_VALUES[0], proof)
    with pytest.raises(InvalidProof):
        require_proof(tree.root, ["address", "uint256"], other, proof)
    require_proof(tree.root, ["address", "uint256"], README_VALUES[0], proof)


def test_process_proof_when_single_leaf_tree_returns_leaf() -> None:
    tree = StandardMerkleTree.of([["only"]], ["string"])
    assert tree.get_proof(0) == []
    assert process_proof(tree.leaf_hash(["only"]), []) == tree.root_bytes
    with pytest.raises(ValidationError):
        get_proof(list(tree.nodes), 1)


def test_dump_when_mixed_types_then_round_trips_through_json() -> None:
    types = ["address", "uint256", "bytes32", "bool", "(uint8,string)", "int256[]"]
    values = [["0x" + "12" * 20, 10**30, b"\x01" * 32, True, (3, "x"), [-1, 2]]]
    tree = StandardMerkleTree.of(values, types)
    loaded = StandardMerkleTree.loads(tree.dumps())
    assert loaded.root == tree.root
    assert loaded.dump() == tree.dump()


def test_of_when_value_out_of_range_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        StandardMerkleTree.of([["0x" + "12" * 20, -1]], ["address", "uint256"])
    with pytest.raises(ValidationError):
        StandardMerkleTree.of([["0x12", 1]], ["address", "uint256"])
    with pytest.raises(ValidationError):
        StandardMerkleTree.of([["a"]], ["uint999"])
    with pytest.raises(ValidationError):
        StandardMerkleTree.of([], ["string"])


def _tampered(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(_vector("oz-standard-v1.sorted.1_0_6.json"))
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d.__setitem__("format", "standard-v2"), "format"),
        (lambda d: d.__setitem__("leafEncoding", ["strin"]), "leafEncoding"),
        (lambda d: d["values"][2].__setitem__("value", ["z"]), "values[2]"),
        (lambda d: d["values"][1].__setitem__("treeIndex", 8), "values[1].treeIndex"),
        (lambda d: d["values"][1].__setitem__("treeIndex", 3), "values[1].treeIndex"),
        (lambda d: d["tree"].__setitem__(3, "0x" + "11" * 32), "tree[3]"),
        (lambda d: d["tree"].__setitem__(0, "0x" + "11" * 32), "tree[0]"),
        (lambda d: d["tree"].__setitem__(4, "0x1234"), "tree[4]"),
        (lambda d: d["values"].pop(), "tree: expected 9 nodes"),
        (lambda d: d["tree"].__setitem__(9, d["tree"][10]), "values[4]"),
    ],
)
def test_load_when_dump_tampered_raises_naming_first_flaw(edit: Any, named: str) -> None:
    with pytest.raises(MerkleDumpError, match=named.replace("[", r"\[").replace("]", r"\]")):
        StandardMerkleTree.load(_tampered(edit))
