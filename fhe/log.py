"""The custodian's decryption log: every decryption, hash-chained, optionally on disk.

Each entry commits to the previous entry's hash, so an auditor holding the head can detect any
omission, insertion or reordering. Entries are canonical JSON; ``hash = sha256(entry JSON)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from darkpool.errors import StorageError

if TYPE_CHECKING:
    from fhe.transcript import RoundOutputs

__all__ = ["GENESIS", "DecryptionLog", "LogEntry"]

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One decryption: what was asked, what was revealed (``None``: refused as inconsistent)."""

    sequence: int
    round_id: str
    transcript_hash: str
    outputs: dict[str, object] | None
    previous: str

    def body(self) -> str:
        return json.dumps(
            {
                "sequence": self.sequence,
                "round_id": self.round_id,
                "transcript_hash": self.transcript_hash,
                "outputs": self.outputs,
                "previous": self.previous,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.body().encode()).hexdigest()


class DecryptionLog:
    """An append-only hash chain of decryptions, mirrored to a JSON-lines file if given."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._entries: list[LogEntry] = []
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                raw = json.loads(line)
                self._entries.append(LogEntry(**raw))
            if not self.verify():
                raise StorageError(f"decryption log {path} does not verify: its chain is broken")

    @property
    def entries(self) -> tuple[LogEntry, ...]:
        return tuple(self._entries)

    @property
    def head(self) -> str:
        """The hash of the last entry (``GENESIS`` when empty): what goes on chain."""
        return self._entries[-1].hash if self._entries else GENESIS

    def append(self, round_id: str, transcript_hash: str, outputs: RoundOutputs | None, *,
               caps: Sequence[int] | None = None) -> LogEntry:
        """Record one decryption (with the attested caps it was evaluated with, if given) and return its entry."""
        revealed: dict[str, object] | None = None
        if outputs is not None:
            revealed = {"rank": outputs.rank, "volume_lots": outputs.volume_lots, "fills": list(outputs.fills)}
            if caps is not None:
                revealed["caps"] = [int(cap) for cap in caps]
        entry = LogEntry(len(self._entries), round_id, transcript_hash, revealed, self.head)
        if self._path is not None:
            with self._path.open("a") as handle:
                handle.write(entry.body() + "\n")
                handle.flush()
                os.fsync(handle.fileno())  # durable before the decryption is answered
        self._entries.append(entry)
        return entry

    def verify(self) -> bool:
        """Check that every entry links to its predecessor and sequence numbers are dense."""
        previous = GENESIS
        for index, entry in enumerate(self._entries):
            if entry.sequence != index or entry.previous != previous:
                return False
            previous = entry.hash
        return True
