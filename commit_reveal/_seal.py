"""The sealed commitments root: its tree, built once, and the operator's signed statement of it."""

from __future__ import annotations

from collections.abc import Sequence

from commit_reveal._commitment import LEAF_ENCODING
from commit_reveal._records import CommitRecord
from darkpool.crypto.keccak import new_keccak as _keccak
from darkpool.crypto.merkle import IndexedValue, StandardMerkleTree, make_tree
from darkpool.signing import Signed

__all__ = ["Seal", "build_tree", "tree_layout"]


class Seal:
    """A sealed root and the operator's signed statement of it.

    The tree itself (``None`` for a round without commitments) is wrapped as an OpenZeppelin
    :class:`StandardMerkleTree` on first use: sealing needs only the root.
    """

    __slots__ = ("_records", "_tree", "layout", "root", "statement")

    def __init__(self, root: bytes, statement: Signed, records: Sequence[CommitRecord],
                 layout: tuple[list[bytes], list[int]] | None) -> None:
        self.root = root
        self.statement = statement
        self._records = records
        self.layout = layout
        self._tree: StandardMerkleTree | None = None

    @property
    def tree(self) -> StandardMerkleTree | None:
        if self._tree is None and self.layout is not None:
            self._tree = wrap_tree(self._records, self.layout)
        return self._tree


def tree_layout(records: Sequence[CommitRecord]) -> tuple[list[bytes], list[int]]:
    """The commitments tree's node array and each record's tree index, as ``StandardMerkleTree.of``."""
    # commitment_leaf() written inline: the records were checked when they were accepted.
    pad12, pad24, keccak = bytes(12), bytes(24), _keccak
    hashes = [
        keccak(keccak(b"".join((pad12, r.address, pad24, r.nonce.to_bytes(8, "big"), r.commitment))).digest()).digest()
        for r in records
    ]
    order = sorted(range(len(hashes)), key=hashes.__getitem__)
    nodes = make_tree([hashes[i] for i in order])
    tree_index = [0] * len(hashes)
    last = len(nodes) - 1
    for position, value_index in enumerate(order):
        tree_index[value_index] = last - position
    return nodes, tree_index


def wrap_tree(records: Sequence[CommitRecord], layout: tuple[list[bytes], list[int]]) -> StandardMerkleTree:
    nodes, tree_index = layout
    values = [IndexedValue((r.account, r.nonce, r.commitment), i) for r, i in zip(records, tree_index, strict=True)]
    return StandardMerkleTree(nodes, values, LEAF_ENCODING)


def build_tree(records: Sequence[CommitRecord]) -> StandardMerkleTree:
    """The commitments tree (leaf hashes computed here equal ``StandardMerkleTree.of``, tested)."""
    return wrap_tree(records, tree_layout(records))
