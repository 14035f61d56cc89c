"""Joint caps through the operator: one account's five orders in a round cannot overdraw its margin."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from darkpool.domain import Side
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from tests.operator.helpers import ADMIN, Clock, close_commits, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.attack
async def test_round_when_one_account_sends_five_buys_each_affordable_alone_then_fills_keep_its_margin(
    tmp_path: Path,
) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    buyer, seller, probe_account = identities(3)
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": seller.address, "amount": 10**12})
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 2, "account": probe_account.address,
                                                  "amount": 10**9})
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    core = app.state.core
    with core.lock:  # what one lot costs a fresh account in initial margin at the band's top
        spent = 10**9 - core.margin.free_collateral_after(probe_account.address, "ETH-PERP", Side.BUY, 100,
                                                          300_003, core.tick())
    per_lot = spent // 100
    # The buyer affords about 10 lots: each 4-lot order is affordable alone, not five together.
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 3, "account": buyer.address,
                                                  "amount": per_lot * 10 + per_lot // 2})
    opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                   "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                   "levels": 8})
    rid = opened["round_id"]
    me = AsyncDarkPoolClient("http://op", buyer, transport=transport)
    other = AsyncDarkPoolClient("http://op", seller, transport=transport)
    tickets = [await me.commit_order(rid, "ETH-PERP", Side.BUY, 300_000 + k, 4) for k in range(5)]
    sell = await other.commit_order(rid, "ETH-PERP", Side.SELL, 299_996, 40)
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for ticket in tickets:
        await me.reveal(ticket)
    await other.reveal(sell)
    await admin.admin("POST", f"/rounds/{rid}/clear")
    position = (await me.positions()).get("ETH-PERP", 0)
    margin = await me.margin()
    assert 0 < position < 20, position  # alone, each order's cap would have let all 20 lots trade
    assert margin["free_collateral"] >= 0, margin
