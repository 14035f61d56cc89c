"""Batched commitments: many signed orders in one request, each checked as if sent alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.clearing import clear_reference
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient, Identity
from darkpool.signing import Commitment, SigningDomain, signed_to_wire
from tests.operator.helpers import ADMIN, Clock, close_commits, fund, identities, settings

pytestmark = pytest.mark.anyio

ORDERS = [(Side.BUY, 300_001, 7, 0), (Side.BUY, 299_998, 3, 0), (Side.SELL, 299_997, 6, 0),
          (Side.SELL, 300_002, 4, 0)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _world(tmp_path: Path) -> tuple[Any, Clock, AsyncDarkPoolClient, list[AsyncDarkPoolClient], list[Identity]]:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    people = identities()
    return app, clock, admin, [AsyncDarkPoolClient("http://op", p, transport=transport) for p in people], people


async def _open(admin: AsyncDarkPoolClient) -> int:
    opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                   "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                   "levels": 8})
    return int(opened["round_id"])


async def test_commit_orders_when_batched_then_one_entry_and_round_clears_like_the_reference(tmp_path: Path) -> None:
    app, clock, admin, clients, people = _world(tmp_path)
    await fund(admin, people)
    rid = await _open(admin)
    core = app.state.core
    seq = core.journal.seq
    tickets, refused = await clients[0].commit_orders(rid, "ETH-PERP", ORDERS[:2])
    more, refused_more = await clients[1].commit_orders(rid, "ETH-PERP", ORDERS[2:])
    assert refused == refused_more == [] and None not in tickets + more
    assert core.journal.seq == seq + 2  # one journal entry per batch
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for client, batch in ((clients[0], tickets), (clients[1], more)):
        for ticket in batch:
            assert ticket is not None
            await client.reveal(ticket)
    cleared = await admin.admin("POST", f"/rounds/{rid}/clear")
    market = Round("ETH-PERP", Ticks(300_000), Ticks(299_996), 8)
    expected = clear_reference(market, [Order(OrderId(str(i)), side, Ticks(limit), Lots(qty), i)
                                        for i, (side, limit, qty, _) in enumerate(ORDERS)])
    assert (cleared["result"]["price_ticks"], cleared["result"]["volume_lots"]) == (expected.price_ticks,
                                                                                    expected.volume_lots)


@pytest.mark.attack
async def test_batch_when_replayed_forged_or_unfunded_then_each_refused_by_index_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    app, _, admin, _, people = _world(tmp_path)
    await fund(admin, people[:2])  # people[2] never deposits
    rid = await _open(admin)
    core = app.state.core
    info = await admin.admin("GET", "/info")
    domain = SigningDomain(info["chain_id"], info["verifying_contract"])

    def signed(who: Identity, nonce: int, signer: Identity | None = None) -> dict[str, Any]:
        message = Commitment(account=who.address, instrument="ETH-PERP", round_id=rid,
                             commitment=nonce.to_bytes(32, "big"), bond=0, nonce=nonce, expiry=2**40)
        return signed_to_wire((signer or who).sign(message, domain))

    first = [signed(people[0], 1), signed(people[1], 2)]
    answer = await admin.admin("POST", f"/rounds/{rid}/commitments/batch", {"commitments": first})
    assert answer["accepted"] == 2 and answer["refused"] == []
    state = core.get_round(rid).summary()
    seq = core.journal.seq
    # The same batch again (nonces spent), a commitment signed by someone else for people[0], an
    # unfunded key, and one fresh valid order: only the last is journaled.
    batch = [*first, signed(people[0], 3, signer=people[1]), signed(people[2], 4), signed(people[1], 5)]
    answer = await admin.admin("POST", f"/rounds/{rid}/commitments/batch", {"commitments": batch})
    assert answer["accepted"] == 1 and [r["index"] for r in answer["refused"]] == [0, 1, 2, 3]
    codes = {r["index"]: r["code"] for r in answer["refused"]}
    assert codes[0] == codes[1] and codes[3] == "policy_violation", codes
    assert core.journal.seq == seq + 1
    assert core.get_round(rid).summary()["commitments"] == state["commitments"] + 1


@pytest.mark.attack
@pytest.mark.parametrize("body", [
    {"commitments": []},
    {"commitments": "x"},
    {"commitments": [{"message": {}}]},
    {"commitments": [], "extra": 1},
    {"commitments": [1]},
])
async def test_batch_when_malformed_then_422_and_journal_unchanged(tmp_path: Path, body: dict[str, Any]) -> None:
    app, _, admin, _, people = _world(tmp_path)
    await fund(admin, people)
    rid = await _open(admin)
    seq = app.state.core.journal.seq
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://op") as http:
        response = await http.post(f"/rounds/{rid}/commitments/batch", content=json.dumps(body))
        assert response.status_code == 422 and response.json()["error"]["code"] == "malformed_request"
        too_many = await http.post(f"/rounds/{rid}/commitments/batch",
                                   json={"commitments": [{"message": {}}] * 1001})
        assert too_many.status_code in (413, 422)
    assert app.state.core.journal.seq == seq
