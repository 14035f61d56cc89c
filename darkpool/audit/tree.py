"""``darkpool audit tree DUMP.json``: recompute every leaf and node of an OpenZeppelin tree dump.

Reads ``standard-v1`` dumps (``StandardMerkleTree``, the format darkpool writes) and also
``simple-v1`` dumps (``SimpleMerkleTree`` with the default node hash).
"""

from __future__ import annotations

from pathlib import Path

from darkpool.crypto.merkle import MAX_DUMP_NESTING, StandardMerkleTree, hex_hash
from darkpool.crypto.merkle_dump import SIMPLE_FORMAT, check_simple_dump
from darkpool.errors import MerkleDumpError
from darkpool.jsontext import loads_bounded

__all__ = ["audit_tree"]


def audit_tree(path: Path) -> str:
    """Return the root ``0x…`` of the dump at ``path``, or raise ``MerkleDumpError`` at the first flaw."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MerkleDumpError(f"cannot read {path}: {error}") from None
    data = loads_bounded(text, max_depth=MAX_DUMP_NESTING, error=MerkleDumpError, what=str(path))
    if not isinstance(data, dict):
        raise MerkleDumpError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") == SIMPLE_FORMAT:
        return hex_hash(check_simple_dump(data)[0])
    return StandardMerkleTree.load(data).root
