"""The liquidation queue's reduce-only orders join the next commit-reveal round of the instrument."""

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


async def _round(admin: AsyncDarkPoolClient, clock: Clock,
                 clients: list[tuple[AsyncDarkPoolClient, Side, int, int]],
                 reference: int) -> dict[str, object]:
    rid = (await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                 "reference_ticks": reference, "band_low_ticks": reference - 4,
                                                 "levels": 8}))["round_id"]
    tickets = [(c, await c.commit_order(rid, "ETH-PERP", side, limit, qty)) for c, side, limit, qty in clients]
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for c, t in tickets:
        await c.reveal(t)
    await admin.admin("POST", f"/rounds/{rid}/clear")
    published: list[dict[str, object]] = await admin.admin("GET", "/audit/rounds")
    return next(r for r in published if r["round_id"] == rid)


async def test_clear_when_account_under_maintenance_fills_its_reduce_only_order(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    alpha, beta = identities(2)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    a = AsyncDarkPoolClient("http://op", alpha, transport=transport)
    b = AsyncDarkPoolClient("http://op", beta, transport=transport)
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": alpha.address, "amount": 700 * 10**6})
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 2, "account": beta.address, "amount": 10**12})
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})

    await _round(admin, clock, [(a, Side.BUY, 300_004, 200), (b, Side.SELL, 299_996, 200)], 300_000)
    opened = (await a.positions())["ETH-PERP"]
    assert opened > 0  # capped by margin to what 700 mUSD carries
    assert (await a.margin())["equity"] >= (await a.margin())["maintenance_margin"]

    clock.now += 60
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 2700.0})
    stressed = await a.margin()
    assert stressed["equity"] < stressed["maintenance_margin"]

    out = await _round(admin, clock, [(b, Side.BUY, 275_000, 500)], 270_000)
    liquidations = out["extra_orders"]
    assert isinstance(liquidations, list) and liquidations, "the under-margined account's reduce-only order joined"
    assert all(str(x["order_id"]).startswith("liquidation:") for x in liquidations)
    after = (await a.positions()).get("ETH-PERP", 0)
    assert 0 <= after < opened  # reduced, never flipped
    healed = await a.margin()
    assert healed["maintenance_margin"] < stressed["maintenance_margin"]
    assert not healed["under_maintenance"]
    app.state.core.journal.close()
