from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from darkpool.errors import StorageError, ValidationError
from darkpool.ledger import (
    GENESIS_HEAD,
    Journal,
    JournalEntry,
    Seq,
    SqliteStore,
    canonical_json,
    next_head,
    open_store,
    verify_chain,
)


def test_canonical_json_when_keys_unordered_sorts_and_strips_spaces() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()


def test_canonical_json_when_value_is_nan_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        canonical_json({"x": float("nan")})


def test_next_head_when_kind_has_separator_characters_raises() -> None:
    with pytest.raises(ValidationError):
        next_head(GENESIS_HEAD, 1, "a{b", b"{}")


def test_append_when_reopened_replays_entries_with_same_heads(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(tmp_path / "j.db"))
    entries = [journal.append("deposit", {"i": i}).wait() for i in range(5)]
    head = journal.head
    journal.close()
    again = Journal(SqliteStore(tmp_path / "j.db"))
    recovered = again.recovered()
    assert recovered == entries
    assert again.head == head and again.seq == 5
    assert again.append("deposit", {"i": 5}).wait().seq == 6
    again.close()


def test_append_when_many_threads_write_groups_commits_and_keeps_chain(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(tmp_path / "j.db"))

    def work(k: int) -> None:
        for i in range(25):
            journal.append("order", {"k": k, "i": i}).wait()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = list(journal.entries())
    assert [e.seq for e in stored] == list(range(1, 201))
    assert verify_chain(stored) == journal.head
    journal.close()


def test_verify_chain_when_payload_tampered_names_the_entry(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(tmp_path / "j.db"))
    entries = [journal.append("x", {"i": i}).wait() for i in range(3)]
    journal.close()
    bad = JournalEntry(entries[1].seq, "x", b'{"i":9}', entries[1].head)
    with pytest.raises(StorageError, match="seq 2"):
        verify_chain([entries[0], bad, entries[2]])
    with pytest.raises(StorageError, match="gap"):
        verify_chain([entries[0], entries[2]])


def test_journal_when_write_fails_fails_waiters_and_refuses_appends(tmp_path: Path) -> None:
    class Broken(SqliteStore):
        def write(self, entries: object) -> None:  # type: ignore[override]
            raise StorageError("disk full")

    journal = Journal(Broken(tmp_path / "j.db"))
    with pytest.raises(StorageError, match="disk full"):
        journal.append("x", {}).wait()
    with pytest.raises(StorageError, match="read-only"):
        journal.append("x", {})


def test_entry_json_when_round_tripped_is_equal(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(tmp_path / "j.db"))
    entry = journal.append("x", {"a": 1}).wait()
    journal.close()
    assert JournalEntry.from_json_dict(entry.to_json_dict()) == entry


@pytest.mark.postgres
def test_postgres_store_when_reopened_replays_same_chain(postgres_url: str) -> None:
    import psycopg

    name = "j" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    journal = Journal(open_store(url))
    entries = [journal.append("order", {"i": i, "text": "é"}).wait() for i in range(20)]
    head = journal.head
    journal.close()
    again = Journal(open_store(url))
    assert again.recovered() == entries
    assert again.head == head and again.seq == Seq(20)
    assert list(again.entries(after=18)) == entries[18:]
    again.close()
