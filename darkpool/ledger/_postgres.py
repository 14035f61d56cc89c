"""The PostgreSQL journal backend (psycopg 3); each batch is one committed transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from darkpool.errors import StorageError
from darkpool.ledger._chain import JournalEntry, Seq

__all__ = ["PostgresStore"]


class PostgresStore:
    """Journal entries in a ``journal`` table of the database at ``url``."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(url, autocommit=False)
            with self._conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS journal (seq BIGINT PRIMARY KEY, kind TEXT NOT NULL, "
                    "payload BYTEA NOT NULL, head BYTEA NOT NULL)"
                )
            self._conn.commit()
        except psycopg.Error as exc:
            raise StorageError(f"cannot open PostgreSQL journal: {exc}") from None
        self._lock = threading.Lock()

    def write(self, entries: Sequence[JournalEntry]) -> None:
        rows = [(e.seq, e.kind, e.payload, e.head) for e in entries]
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    cur.executemany("INSERT INTO journal VALUES (%s, %s, %s, %s)", rows)
                self._conn.commit()
            except self._psycopg.Error as exc:
                self._conn.rollback()
                raise StorageError(f"journal write failed: {exc}") from None

    def read(self, after: int = 0, limit: int | None = None) -> Iterator[JournalEntry]:
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    cur.execute(
                        "SELECT seq, kind, payload, head FROM journal WHERE seq > %s ORDER BY seq LIMIT %s",
                        (after, limit),
                    )
                    rows = cur.fetchall()
                self._conn.commit()
            except self._psycopg.Error as exc:
                self._conn.rollback()
                raise StorageError(f"journal read failed: {exc}") from None
        for seq, kind, payload, head in rows:
            yield JournalEntry(Seq(int(seq)), str(kind), bytes(payload), bytes(head))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
