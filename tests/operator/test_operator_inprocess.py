from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from darkpool.errors import InvalidReveal, PhaseError, ReplayedMessage, Unauthorized
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from tests.operator.helpers import ADMIN, Clock, close_commits, commit_reveal_round, fund, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_commit_reveal_round_when_three_institutions_trade_fills_net_to_zero(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities()
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    await fund(admin, people)
    out = await commit_reveal_round(admin, clients, clock)
    assert out["result"]["volume_lots"] == 12
    positions = [await c.positions() for c in clients]
    assert sum(p.get("ETH-PERP", 0) for p in positions) == 0
    assert positions[0]["ETH-PERP"] == 12
    fills = await clients[0].fills()
    assert fills[0]["quantity_lots"] == 12
    app.state.core.journal.close()


async def test_reveal_when_salt_wrong_raises_invalid_reveal_and_changes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities(1)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    client = AsyncDarkPoolClient("http://op", people[0], transport=transport)
    await fund(admin, people)
    rid = (await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                 "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                 "levels": 8}))["round_id"]
    from darkpool.domain import Side

    ticket = await client.commit_order(rid, "ETH-PERP", Side.BUY, 300_000, 5)
    with pytest.raises(PhaseError):
        await client.reveal(ticket)
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    seq = app.state.core.journal.seq
    from dataclasses import replace

    with pytest.raises(InvalidReveal):
        await client.reveal(replace(ticket, quantity_lots=6))
    assert app.state.core.journal.seq == seq
    response = await client.http.post(f"/rounds/{rid}/clear", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and response.json()["error"]["code"] == Unauthorized.code
    await client.reveal(ticket)
    app.state.core.journal.close()


async def test_withdraw_when_replayed_raises_replayed_message(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities(1)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    fixed = iter([7, 7])
    from darkpool.sdk import Ops

    client = AsyncDarkPoolClient("http://op", people[0], transport=transport,
                                 ops=Ops(people[0], clock=Clock(), nonce_source=lambda: next(fixed)))
    await fund(admin, people)
    wid = await client.withdraw(10**6)
    assert wid == 1
    with pytest.raises(ReplayedMessage):
        await client.withdraw(10**6)
    assert (await client.balance())["balance"] == 10**12 - 10**6
    app.state.core.journal.close()
