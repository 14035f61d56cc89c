"""The journal: sequence, hash-chain and durably append accepted messages, with group commit.

:meth:`Journal.append` assigns the next sequence number and head at once (callers hold their own
lock so the order of the chain is the order they apply messages in) and hands the entry to one
writer thread. The writer commits everything pending in one transaction, so concurrent requests
share an fsync; each append's future resolves only once its entry is durable. A message is
acknowledged only after its future resolves. After a failed write the journal refuses appends:
memory may be ahead of disk, and only a restart (which replays the disk) makes them agree again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkpool.errors import StorageError
from darkpool.ledger._chain import GENESIS_HEAD, JournalEntry, Seq, canonical_json, next_head, verify_chain
from darkpool.ledger._store import JournalStore, SqliteStore

__all__ = ["Appended", "Journal", "open_store"]

_log = logging.getLogger("darkpool.ledger")


def open_store(location: str | Path) -> JournalStore:
    """Open a PostgreSQL store for a ``postgresql://`` URL, else a SQLite file at ``location``."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from darkpool.ledger._postgres import PostgresStore

        return PostgresStore(text)
    return SqliteStore(text)


@dataclass(frozen=True, slots=True)
class Appended:
    """An entry and the future that resolves once it is durable."""

    entry: JournalEntry
    durable: Future[None]

    def wait(self, timeout: float | None = 30.0) -> JournalEntry:
        """Block until the entry is durable; return it."""
        self.durable.result(timeout)
        return self.entry


class Journal:
    """An append-only, hash-chained, durable log of accepted messages."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self._recovered = list(store.read())
        self._head = verify_chain(self._recovered)
        self._seq = self._recovered[-1].seq if self._recovered else 0
        self._durable_seq = self._seq
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[tuple[JournalEntry, Future[None]]] = []
        self._failed: BaseException | None = None
        self._closing = False
        self._listeners: list[Callable[[], None]] = []
        self._writer = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)
        self._writer.start()

    def recovered(self) -> list[JournalEntry]:
        """Return (once) the entries found in storage at open, in order, chain already verified."""
        entries, self._recovered = self._recovered, []
        return entries

    @property
    def head(self) -> bytes:
        return self._head

    @property
    def seq(self) -> Seq:
        return Seq(self._seq)

    @property
    def lag(self) -> int:
        """Entries appended but not yet durable: those queued and those being written (the group commit's backlog)."""
        with self._lock:
            return self._seq - self._durable_seq

    @property
    def healthy(self) -> bool:
        """Whether appends are still taken (no failed write, not closed, writer alive)."""
        return self._failed is None and not self._closing and self._writer.is_alive()

    def append(self, kind: str, payload: Mapping[str, Any]) -> Appended:
        """Sequence and chain ``payload`` as the next entry and queue it for a durable write."""
        body = canonical_json(payload)
        with self._lock:
            if self._failed is not None:
                raise StorageError(f"journal is read-only after a failed write: {self._failed}")
            if self._closing:
                raise StorageError("journal is closed")
            seq = self._seq + 1
            head = next_head(self._head, seq, kind, body)
            entry = JournalEntry(Seq(seq), kind, body, head)
            done: Future[None] = Future()
            self._pending.append((entry, done))
            self._seq, self._head = seq, head
            self._wake.notify()
        return Appended(entry, done)

    def on_durable(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` on the writer thread after each group commit, once its entries' futures
        are resolved (and after a failed write, once every waiting future holds the error).

        One call per group rather than one callback per entry: a waiter on an event loop wakes once
        for the whole group. A listener must be quick and must not raise (what it raises is dropped).
        """
        self._listeners.append(listener)

    def entries(self, after: int = 0, limit: int | None = None) -> Iterator[JournalEntry]:
        """Yield durable entries with ``seq > after``."""
        return self.store.read(after, limit)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything appended so far is durable."""
        with self._lock:
            last = self._pending[-1][1] if self._pending else None
        if last is not None:
            last.result(timeout)

    def close(self) -> None:
        """Write what is pending, stop the writer and close the store."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._writer.join(30)
        self.store.close()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._wake.wait()
                batch, self._pending = self._pending, []
                if not batch and self._closing:
                    return
            try:
                self.store.write([entry for entry, _ in batch])
            except BaseException as exc:  # every waiter must hear of the failure
                with self._lock:
                    self._failed = exc
                    rest, self._pending = self._pending, []
                for _, done in batch + rest:
                    done.set_exception(exc if isinstance(exc, StorageError) else StorageError(str(exc)))
                self._tell_listeners()
                return
            if batch:
                with self._lock:
                    self._durable_seq = batch[-1][0].seq
            for _, done in batch:
                done.set_result(None)
            if batch:
                self._tell_listeners()

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # a listener's failure must not stop the writer
                _log.exception("journal durability listener failed")


def journal_head_hex(head: bytes = GENESIS_HEAD) -> str:
    """Render a head as 0x hex."""
    return "0x" + head.hex()
