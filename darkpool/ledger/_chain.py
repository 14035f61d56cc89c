"""The journal's hash chain: canonical payloads and the head of each entry.

``head_n = keccak256(head_{n-1} ‖ uint256(seq) ‖ kind ‖ 0x00 ‖ canonical_payload)`` with
``head_0`` the 32 zero bytes. A kind is ``[a-z_]+``, so the zero byte separates it from the
payload unambiguously. Pure code: no storage, no clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NewType

from darkpool.crypto.abi import uint_word
from darkpool.crypto.keccak import keccak256
from darkpool.errors import StorageError, ValidationError

__all__ = [
    "GENESIS_HEAD",
    "JournalEntry",
    "Seq",
    "canonical_json",
    "next_head",
    "verify_chain",
]

Seq = NewType("Seq", int)
"""The operator's sequence number of an accepted message, from 1."""

GENESIS_HEAD = bytes(32)
_KIND = re.compile(r"^[a-z_]{1,40}$")


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Encode ``payload`` as canonical JSON: sorted keys, no spaces, UTF-8."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"journal payload is not canonical JSON: {exc}") from None


def next_head(previous: bytes, seq: int, kind: str, payload: bytes) -> bytes:
    """Return the head after appending ``(seq, kind, payload)`` to a chain whose head is ``previous``."""
    if not _KIND.match(kind):
        raise ValidationError(f"journal kind must match [a-z_]{{1,40}}, got {kind!r}")
    return keccak256(previous, uint_word(seq), kind.encode(), b"\x00", payload)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One appended message: its sequence number, kind, canonical payload and chain head."""

    seq: Seq
    kind: str
    payload: bytes
    head: bytes

    def data(self) -> dict[str, Any]:
        """Return the decoded payload."""
        decoded: dict[str, Any] = json.loads(self.payload)
        return decoded

    def to_json_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "payload": self.payload.decode(), "head": "0x" + self.head.hex()}

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> JournalEntry:
        try:
            return cls(Seq(int(raw["seq"])), str(raw["kind"]), str(raw["payload"]).encode(),
                       bytes.fromhex(str(raw["head"])[2:]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(f"malformed journal entry: {exc}") from None


def verify_chain(entries: Iterable[JournalEntry], start_head: bytes = GENESIS_HEAD, start_seq: int = 0) -> bytes:
    """Check that ``entries`` are consecutive and each head chains from the last; return the final head.

    Raises :class:`StorageError` naming the first entry that breaks the chain.
    """
    head, seq = start_head, start_seq
    for entry in entries:
        if entry.seq != seq + 1:
            raise StorageError(f"journal gap: expected seq {seq + 1}, got {entry.seq}")
        expected = next_head(head, entry.seq, entry.kind, entry.payload)
        if expected != entry.head:
            raise StorageError(f"journal hash chain broken at seq {entry.seq}")
        head, seq = entry.head, entry.seq
    return head
