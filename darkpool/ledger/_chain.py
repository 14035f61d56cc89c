"""The journal's hash chain: canonical payloads and the head of each entry.

``head_n = keccak256(head_{n-1} ‖ uint256(seq) ‖ kind ‖ 0x00 ‖ keccak256(canonical_payload))`` with
``head_0`` the 32 zero bytes. A kind is ``[a-z_]+``, so the zero byte separates it from the
payload's digest unambiguously. Heads commit to each payload through its digest so that an entry
whose payload is private can be published as ``(seq, kind, digest, head)`` and the whole chain
still verified by anyone (:meth:`JournalEntry.redacted`). The first release chained the raw
payload (chain format 1); such a journal is refused with that name. Pure code: no storage, no clock.
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
    "head_from_digest",
    "next_head",
    "verify_chain",
]

Seq = NewType("Seq", int)
"""The operator's sequence number of an accepted message, from 1."""

GENESIS_HEAD = bytes(32)
_KIND = re.compile(r"^[a-z_]{1,40}$")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""One encoder for every entry: ``json.dumps`` with these options would build a new one per call."""


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Encode ``payload`` as canonical JSON: sorted keys, no spaces, UTF-8."""
    try:
        return _CANONICAL.encode(payload).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"journal payload is not canonical JSON: {exc}") from None


def next_head(previous: bytes, seq: int, kind: str, payload: bytes) -> bytes:
    """Return the head after appending ``(seq, kind, payload)`` to a chain whose head is ``previous``."""
    return head_from_digest(previous, seq, kind, keccak256(payload))


def head_from_digest(previous: bytes, seq: int, kind: str, digest: bytes) -> bytes:
    """The head after an entry known only by its payload's digest (a redacted entry)."""
    if not _KIND.match(kind):
        raise ValidationError(f"journal kind must match [a-z_]{{1,40}}, got {kind!r}")
    return keccak256(previous, uint_word(seq), kind.encode(), b"\x00", digest)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One appended message: its sequence number, kind, canonical payload and chain head.

    A redacted entry (what the public sees of a private one) has no payload, only its digest.
    """

    seq: Seq
    kind: str
    payload: bytes
    head: bytes
    redacted_digest: bytes | None = None

    @property
    def digest(self) -> bytes:
        """``keccak256(payload)``: what the head commits to."""
        return self.redacted_digest if self.redacted_digest is not None else keccak256(self.payload)

    @property
    def is_redacted(self) -> bool:
        return self.redacted_digest is not None

    def redacted(self) -> JournalEntry:
        """This entry without its payload: still chains, reveals nothing of the payload."""
        return JournalEntry(self.seq, self.kind, b"", self.head, self.digest)

    def data(self) -> dict[str, Any]:
        """Return the decoded payload."""
        if self.is_redacted:
            raise ValidationError(f"journal entry {self.seq} is redacted: its payload is private")
        decoded: dict[str, Any] = json.loads(self.payload)
        return decoded

    def to_json_dict(self) -> dict[str, Any]:
        payload = None if self.is_redacted else self.payload.decode()
        return {"seq": self.seq, "kind": self.kind, "payload": payload, "payload_hash": "0x" + self.digest.hex(),
                "head": "0x" + self.head.hex()}

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> JournalEntry:
        try:
            seq, kind, head = Seq(int(raw["seq"])), str(raw["kind"]), bytes.fromhex(str(raw["head"])[2:])
            if raw.get("payload") is None:
                return cls(seq, kind, b"", head, bytes.fromhex(str(raw["payload_hash"])[2:]))
            entry = cls(seq, kind, str(raw["payload"]).encode(), head)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationError(f"malformed journal entry: {exc}") from None
        if "payload_hash" in raw and str(raw["payload_hash"]) != "0x" + entry.digest.hex():
            raise ValidationError(f"journal entry {seq}: payload_hash is not the payload's digest")
        return entry


def verify_chain(entries: Iterable[JournalEntry], start_head: bytes = GENESIS_HEAD, start_seq: int = 0) -> bytes:
    """Check that ``entries`` are consecutive and each head chains from the last; return the final head.

    Raises :class:`StorageError` naming the first entry that breaks the chain.
    """
    head, seq = start_head, start_seq
    for entry in entries:
        if entry.seq != seq + 1:
            raise StorageError(f"journal gap: expected seq {seq + 1}, got {entry.seq}")
        expected = head_from_digest(head, entry.seq, entry.kind, entry.digest)
        if expected != entry.head:
            if not entry.is_redacted and keccak256(head, uint_word(entry.seq), entry.kind.encode(), b"\x00",
                                                   entry.payload) == entry.head:
                raise StorageError(f"journal chain format 1 (heads over raw payloads) at seq {entry.seq}, expected "
                                   "format 2 (heads over payload digests): start a new journal")
            raise StorageError(f"journal hash chain broken at seq {entry.seq}")
        head, seq = entry.head, entry.seq
    return head
