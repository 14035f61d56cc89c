"""Reopening the journal replays it to the same state, in process and against PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.web.serve import ServerThread
from darkpool.web.settings import OperatorSettings
from tests.operator.helpers import ADMIN, Clock, commit_reveal_round, fund, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _state(app: Any) -> dict[str, Any]:
    core = app.state.core
    return {"rounds": [r.summary() for r in core.rounds.values()], "balances": core.balances(),
            "positions": {a: core.margin.positions(a) for a in core.margin.accounts}, "fills": list(core.books.fills),
            "withdrawals": list(core.books.withdrawals), "head": core.journal.head, "seq": core.journal.seq,
            "nonces": len(core.verifier.nonces), "bonds": core.bonds.snapshot()}


async def _drive(settings_: OperatorSettings) -> dict[str, Any]:
    clock = Clock()
    app = create_operator_app(settings_, clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities()
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    await fund(admin, people)
    await commit_reveal_round(admin, clients, clock)
    await clients[2].withdraw(5 * 10**6)
    state = _state(app)
    app.state.core.journal.close()
    return state


async def test_restart_when_journal_replayed_reaches_same_state(tmp_path: Path) -> None:
    s = settings(tmp_path)
    before = await _drive(s)
    clock = Clock()
    again = create_operator_app(s, clock=clock)
    assert _state(again) == before
    again.state.core.journal.close()


@pytest.mark.postgres
async def test_restart_when_journal_on_postgres_replays_same_state(tmp_path: Path, postgres_url: str) -> None:
    import uuid

    import psycopg

    name = "op" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    s = settings(tmp_path).model_copy(update={"journal": postgres_url.rsplit("/", 1)[0] + "/" + name})
    before = await _drive(s)
    clock = Clock()
    again = create_operator_app(s, clock=clock)
    assert _state(again) == before
    again.state.core.journal.close()


async def test_async_sdk_when_over_real_socket_reads_round(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    with ServerThread(app) as server:
        async with AsyncDarkPoolClient(server.url, admin_token=ADMIN) as admin:
            opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                           "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                           "levels": 8})
            assert (await admin.round(opened["round_id"]))["phase"] == "commit"
