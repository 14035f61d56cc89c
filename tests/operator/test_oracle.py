"""Marks from an on-chain price feed (the contracts' MockAggregator on a real EVM): bad answers halt.

An operator (or whoever posts to the feed) trying to move margin with a stale, non-positive or
out-of-band answer gets it refused, journaled as refused, and the underlying's instruments halt
until a good answer arrives; a good move goes through the feed, recomputes every account at once
and queues the ones under maintenance for liquidation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.settlement import embedded_chain
from darkpool.settlement.oracle import PriceFeed
from tests.operator.helpers import ADMIN, NOW, Clock, close_commits, identities, settings

pytestmark = [pytest.mark.anyio, pytest.mark.chain]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _feed() -> tuple[Any, str, PriceFeed, Clock]:
    """A fresh EVM with an ETH/USD mock feed owned by the node's first account, and a test clock."""
    chain = embedded_chain()
    owner = chain.accounts[0]
    return chain, owner, PriceFeed.deploy(chain, owner, "ETH / USD"), Clock()


def _world(tmp_path: Path, chain: Any, feed: PriceFeed, clock: Clock) -> tuple[Any, AsyncDarkPoolClient]:
    config = settings(tmp_path).model_copy(update={"oracles": f"ETH={feed.address}", "mark_max_age_s": 600})
    app = create_operator_app(config, clock=clock, chain=chain)
    return app, AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))


async def _open(admin: AsyncDarkPoolClient) -> int:
    opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                   "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                   "levels": 8})
    return int(opened["round_id"])


@pytest.mark.attack
async def test_feed_when_answer_stale_negative_or_out_of_band_then_refused_journaled_and_instrument_halted(
    tmp_path: Path,
) -> None:
    chain, owner, feed, clock = _feed()
    app, admin = _world(tmp_path, chain, feed, clock)
    core = app.state.core
    feed.post(owner, 3000.0, NOW)
    assert await admin.admin("POST", "/admin/oracle/pull") == {"ETH": "ok"}
    assert core.marks["ETH"][0] == 3000.0
    for answer, stamp, why in ((-5, NOW, "not a positive"), (3100 * 10**8, NOW - 10_000, "old"),
                               (6000 * 10**8, NOW, "from the last good mark")):
        feed.post_raw(owner, answer, stamp)
        outcome = await admin.admin("POST", "/admin/oracle/pull")
        assert why in outcome["ETH"], outcome
        assert core.marks["ETH"][0] == 3000.0 and "ETH" in core.halted
        with pytest.raises(DarkPoolError, match="halted"):
            await _open(admin)
    kinds = [e.kind for e in core.journal.entries(0)]
    assert kinds.count("oracle_refused") == 3 and kinds.count("mark") == 1
    core.journal.close()
    app, admin = _world(tmp_path, chain, feed, clock)  # the halt survives a restart (it is journaled)
    with pytest.raises(DarkPoolError, match="halted"):
        await _open(admin)
    feed.post(owner, 3050.0, NOW)
    assert await admin.admin("POST", "/admin/oracle/pull") == {"ETH": "ok"}
    assert await _open(admin) >= 1  # a good mark lifts the halt
    app.state.core.journal.close()


async def test_feed_when_mark_moves_then_accounts_under_maintenance_queue_for_liquidation_at_once(
    tmp_path: Path,
) -> None:
    chain, owner, feed, clock = _feed()
    app, admin = _world(tmp_path, chain, feed, clock)
    transport = httpx.ASGITransport(app=app)
    core = app.state.core
    feed.post(owner, 3000.0, NOW)
    await admin.admin("POST", "/admin/oracle/pull")
    long, short = identities(2)
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": long.address, "amount": 2 * 10**8})
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 2, "account": short.address, "amount": 10**12})
    rid = await _open(admin)
    buyer = AsyncDarkPoolClient("http://op", long, transport=transport)
    seller = AsyncDarkPoolClient("http://op", short, transport=transport)
    buy = await buyer.commit_order(rid, "ETH-PERP", Side.BUY, 300_000, 200)
    sell = await seller.commit_order(rid, "ETH-PERP", Side.SELL, 300_000, 200)
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    await buyer.reveal(buy)
    await seller.reveal(sell)
    await admin.admin("POST", f"/rounds/{rid}/clear")
    held = (await buyer.positions()).get("ETH-PERP", 0)
    assert held > 0 and long.address.lower() not in core.margin.liquidation_queue
    feed.post(owner, 2400.0, clock.now)  # -20%: within the band, a real move
    assert await admin.admin("POST", "/admin/oracle/pull") == {"ETH": "ok"}
    assert long.address.lower() in core.margin.liquidation_queue  # queued by the mark itself, no round needed
    core.journal.close()
