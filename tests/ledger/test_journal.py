from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from darkpool.errors import StorageError, ValidationError
from darkpool.ledger import (
    GENESIS_HEAD,
    Appended,
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


def _chained(count: int, start: int = 0, head: bytes = GENESIS_HEAD) -> list[JournalEntry]:
    entries = []
    for seq in range(start + 1, start + count + 1):
        payload = canonical_json({"i": seq})
        head = next_head(head, seq, "order", payload)
        entries.append(JournalEntry(Seq(seq), "order", payload, head))
    return entries


@pytest.mark.parametrize("count", [1, 256, 257, 700])
def test_sqlite_write_when_group_of_any_size_then_all_rows_read_back(tmp_path: Path, count: int) -> None:
    store = SqliteStore(tmp_path / "j.db")
    entries = _chained(count)
    store.write(entries)
    store.write([])
    assert list(store.read()) == entries
    store.close()


@pytest.mark.parametrize("count", [3, 700])
def test_sqlite_write_when_a_row_clashes_then_no_row_of_the_group_is_written(tmp_path: Path, count: int) -> None:
    store = SqliteStore(tmp_path / "j.db")
    first = _chained(2)
    store.write(first)
    clashing = _chained(count, start=2, head=first[-1].head)
    clashing[-1] = first[0]  # seq 1 again: the primary key refuses it, after the others were inserted
    with pytest.raises(StorageError):
        store.write(clashing)
    assert list(store.read()) == first  # the group is all or nothing
    store.close()


def test_on_durable_when_groups_commit_then_listener_called_after_their_futures_resolve(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(tmp_path / "j.db"))
    appended: list[Appended] = []
    calls: list[bool] = []

    def listener() -> None:  # on the writer thread, once per group
        durable = journal.seq - journal.lag
        calls.append(durable > 0 and all(a.durable.done() for a in list(appended) if a.entry.seq <= durable))

    journal.on_durable(listener)
    for i in range(50):
        appended.append(journal.append("order", {"i": i}))
    journal.flush()
    journal.close()
    assert calls and all(calls)
    assert len(calls) <= 50  # groups, not entries
