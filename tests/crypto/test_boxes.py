"""Sealed boxes: a disclosed one-off key rebuilds the key pair and opens what was sealed to it, nothing else."""

from __future__ import annotations

import pytest

from darkpool.crypto.boxes import BoxKey, seal_to
from darkpool.errors import InvalidReveal, ValidationError


def test_disclosed_key_when_rebuilt_then_same_public_half_and_opens_its_boxes() -> None:
    key = BoxKey()
    box = seal_to(key.public, b"\x01\x02\x03", b"round 1 slot 2")
    rebuilt = BoxKey(key.unsafe_disclose())
    assert rebuilt.public == key.public
    assert rebuilt.open(box, b"round 1 slot 2") == b"\x01\x02\x03"
    with pytest.raises(InvalidReveal):
        BoxKey().open(box, b"round 1 slot 2")


def test_disclosed_key_when_not_32_bytes_then_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        BoxKey(b"\x00" * 31)
