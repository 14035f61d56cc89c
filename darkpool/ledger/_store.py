"""Durable journal storage: the protocol and the SQLite backend (WAL, ``synchronous=FULL``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from darkpool.errors import StorageError
from darkpool.ledger._chain import JournalEntry, Seq

__all__ = ["JournalStore", "SqliteStore"]


class JournalStore(Protocol):
    """Append-only storage of journal entries; ``write`` is durable when it returns."""

    def write(self, entries: Sequence[JournalEntry]) -> None: ...

    def read(self, after: int = 0, limit: int | None = None) -> Iterator[JournalEntry]: ...

    def close(self) -> None: ...


class SqliteStore:
    """Journal entries in one SQLite table, each batch in one fsynced transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StorageError(f"SQLite refused WAL mode for {self.path} (got {mode})")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS journal ("
                "seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload BLOB NOT NULL, head BLOB NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open journal {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def write(self, entries: Sequence[JournalEntry]) -> None:
        rows = [(e.seq, e.kind, e.payload, e.head) for e in entries]
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StorageError(f"journal write failed: {exc}") from None

    def read(self, after: int = 0, limit: int | None = None) -> Iterator[JournalEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, kind, payload, head FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, -1 if limit is None else limit),
            ).fetchall()
        for seq, kind, payload, head in rows:
            yield JournalEntry(Seq(seq), kind, bytes(payload), bytes(head))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
