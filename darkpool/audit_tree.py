"""``darkpool audit tree DUMP.json``: recompute every leaf and node of a ``standard-v1`` dump."""

from __future__ import annotations

from pathlib import Path

from darkpool.errors import MerkleDumpError
from darkpool.merkle import StandardMerkleTree

__all__ = ["audit_tree"]


def audit_tree(path: Path) -> str:
    """Return the root ``0x…`` of the dump at ``path``, or raise ``MerkleDumpError`` at the first flaw."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MerkleDumpError(f"cannot read {path}: {error}") from None
    return StandardMerkleTree.loads(text).root
