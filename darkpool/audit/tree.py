"""``darkpool audit tree DUMP.json``: recompute every leaf and node of an OpenZeppelin tree dump.

Reads ``standard-v1`` dumps (``StandardMerkleTree``, the format darkpool writes) and also
``simple-v1`` dumps (``SimpleMerkleTree`` with the default node hash).
"""

from __future__ import annotations

import json
from pathlib import Path

from darkpool.crypto.merkle import StandardMerkleTree, hex_hash
from darkpool.crypto.merkle_dump import SIMPLE_FORMAT, check_simple_dump
from darkpool.errors import MerkleDumpError

__all__ = ["audit_tree"]


def audit_tree(path: Path) -> str:
    """Return the root ``0x…`` of the dump at ``path``, or raise ``MerkleDumpError`` at the first flaw."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MerkleDumpError(f"cannot read {path}: {error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MerkleDumpError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise MerkleDumpError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") == SIMPLE_FORMAT:
        return hex_hash(check_simple_dump(data)[0])
    return StandardMerkleTree.load(data).root
