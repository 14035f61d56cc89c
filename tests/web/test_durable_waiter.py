"""The order endpoint's acknowledgements wait on :class:`DurableWaiter`: released once durable, never before,
and told of a failed write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from darkpool.errors import StorageError
from darkpool.ledger import Journal, JournalEntry, SqliteStore
from darkpool.web.http import DurableWaiter

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gated(SqliteStore):
    """A store whose writes wait for a gate (so a test sees entries while they are not durable)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.fail = False

    def write(self, entries: Sequence[JournalEntry]) -> None:
        self.gate.wait(10)
        if self.fail:
            raise StorageError("disk full")
        super().write(entries)


async def test_wait_when_entries_become_durable_then_each_released_only_then(tmp_path: Path) -> None:
    store = Gated(tmp_path / "j.db")
    journal = Journal(store)
    waiter = DurableWaiter(journal)
    appended = [journal.append("order", {"i": i}) for i in range(40)]
    tasks = [asyncio.create_task(waiter.wait(a)) for a in appended]
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in tasks)  # nothing is durable yet: nobody is acknowledged
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(a.durable.done() for a in appended)
    await waiter.wait(appended[0])  # already durable: returns at once
    journal.close()


async def test_wait_when_the_write_fails_then_raises_its_error(tmp_path: Path) -> None:
    store = Gated(tmp_path / "j.db")
    store.fail = True
    journal = Journal(store)
    waiter = DurableWaiter(journal)
    appended = [journal.append("order", {"i": i}) for i in range(3)]
    tasks = [asyncio.create_task(waiter.wait(a)) for a in appended]
    await asyncio.sleep(0.05)
    store.gate.set()
    for task in tasks:
        with pytest.raises(StorageError, match="disk full"):
            await asyncio.wait_for(task, 10)
    journal.close()
