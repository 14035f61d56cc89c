"""Durable journal storage: the protocol and the SQLite backend (WAL, ``synchronous=FULL``)."""

from __future__ import annotations

import functools
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


_ROWS_PER_STATEMENT = 256
"""Rows inserted by one statement (4 parameters each, far below SQLite's parameter limit)."""


@functools.lru_cache(maxsize=_ROWS_PER_STATEMENT)
def _insert(rows: int) -> str:
    """The statement inserting ``rows`` journal rows."""
    return "INSERT INTO journal VALUES " + ",".join(["(?, ?, ?, ?)"] * rows)  # noqa: S608 (placeholders only)


class SqliteStore:
    """Journal entries in one SQLite table, each batch in one fsynced transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         cached_statements=2 * _ROWS_PER_STATEMENT)
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
        if not entries:
            return
        params = [value for e in entries for value in (e.seq, e.kind, e.payload, e.head)]
        with self._lock:
            try:
                if len(entries) <= _ROWS_PER_STATEMENT:
                    # One statement outside a transaction commits (fsyncs) on its own: one call into
                    # SQLite per group commit. Each call lets go of the GIL and must win it back from
                    # the event loop, which waits meanwhile; BEGIN, a row-by-row executemany and
                    # COMMIT made that dance several times per group.
                    self._conn.execute(_insert(len(entries)), params)
                    return
                self._conn.execute("BEGIN IMMEDIATE")
                for first in range(0, len(entries), _ROWS_PER_STATEMENT):
                    chunk = params[4 * first:4 * (first + _ROWS_PER_STATEMENT)]
                    self._conn.execute(_insert(len(chunk) // 4), chunk)
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
