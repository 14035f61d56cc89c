"""``audit_tree``: the logic behind ``darkpool audit tree DUMP.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darkpool.audit.tree import audit_tree
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.errors import DarkPoolError, MerkleDumpError

VECTORS = Path(__file__).parent / "vectors"
ROOT = "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8"


def test_audit_tree_when_oz_dump_genuine_returns_root() -> None:
    assert audit_tree(VECTORS / "oz-standard-v1.sorted.1_0_6.json") == ROOT


def test_audit_tree_when_large_python_dump_returns_root(tmp_path: Path) -> None:
    values = [["0x" + f"{i:040x}", str(i * 10**12)] for i in range(1, 2000)]
    tree = StandardMerkleTree.of(values, ["address", "uint256"])
    path = tmp_path / "dump.json"
    path.write_text(tree.dumps())
    assert audit_tree(path) == tree.root


def test_audit_tree_when_leaf_value_tampered_raises_naming_value(tmp_path: Path) -> None:
    data = json.loads((VECTORS / "oz-standard-v1.sorted.1_0_6.json").read_text())
    data["values"][3]["value"] = ["x"]
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MerkleDumpError, match=r"values\[3\]"):
        audit_tree(path)


@pytest.mark.parametrize("text", ["", "[]", "{not json", '{"format":"standard-v1"}'])
def test_audit_tree_when_not_a_dump_raises_darkpool_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DarkPoolError):
        audit_tree(path)


def test_audit_tree_when_file_missing_raises_merkle_dump_error(tmp_path: Path) -> None:
    with pytest.raises(MerkleDumpError, match="cannot read"):
        audit_tree(tmp_path / "absent.json")


GENERATED = sorted((VECTORS / "oz_generated").glob("oz-*.json"))


@pytest.mark.parametrize("path", GENERATED, ids=[p.stem for p in GENERATED])
def test_audit_tree_when_dump_made_by_openzeppelin_returns_its_root(path: Path) -> None:
    data = json.loads(path.read_text())
    assert audit_tree(path) == data["tree"][0]
    assert StandardMerkleTree.load(data).dump() == data


@pytest.mark.parametrize("path", GENERATED, ids=[p.stem for p in GENERATED])
def test_audit_tree_when_openzeppelin_dump_node_flipped_raises(path: Path, tmp_path: Path) -> None:
    data = json.loads(path.read_text())
    index = len(data["tree"]) // 2
    data["tree"][index] = data["tree"][index][:-1] + ("0" if data["tree"][index][-1] != "0" else "1")
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    with pytest.raises(MerkleDumpError):
        audit_tree(tampered)


@pytest.mark.parametrize("name", ["oz-simple-v1.sorted.1_0_6.json", "oz-simple-v1.unsorted.1_0_6.json"])
def test_audit_tree_when_oz_simple_dump_returns_root_and_catches_tampering(name: str, tmp_path: Path) -> None:
    data = json.loads((VECTORS / name).read_text())
    assert audit_tree(VECTORS / name) == data["tree"][0]
    data["values"][0]["value"] = "0x" + "00" * 32
    tampered = tmp_path / name
    tampered.write_text(json.dumps(data))
    with pytest.raises(MerkleDumpError, match=r"values\[0\]"):
        audit_tree(tampered)


@pytest.mark.attack
def test_audit_tree_when_dump_nested_100k_deep_then_merkle_dump_error(tmp_path: Path) -> None:
    from darkpool.audit.tree import audit_tree

    dump = tmp_path / "deep.json"
    dump.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MerkleDumpError):
        audit_tree(dump)
