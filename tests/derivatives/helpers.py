"""A world with an on-chain ETH/USD price feed (the contracts' MockAggregator on py-evm) and an operator reading it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from darkpool.domain import Side
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient, Identity
from darkpool.settlement import embedded_chain
from darkpool.settlement.oracle import PriceFeed
from darkpool.web.settings import OperatorSettings
from tests.operator.helpers import ADMIN, Clock, close_commits, deposited_world, identities, settings

MAX_AGE_S = 600


@dataclass
class FeedWorld:
    chain: Any
    owner: str
    feed: PriceFeed
    clock: Clock
    config: OperatorSettings
    app: Any = None
    operator: AsyncDarkPoolClient | None = None
    people: tuple[Identity, ...] = ()

    @property
    def core(self) -> Any:
        return self.app.state.core

    @property
    def admin(self) -> AsyncDarkPoolClient:
        """The operator's admin client."""
        assert self.operator is not None
        return self.operator

    def start(self) -> AsyncDarkPoolClient:
        """Start (or restart, replaying the journal) the operator."""
        if self.app is not None:
            self.core.journal.close()
        self.app = create_operator_app(self.config, clock=self.clock, chain=self.chain)
        self.operator = AsyncDarkPoolClient("http://op", admin_token=ADMIN,
                                            transport=httpx.ASGITransport(app=self.app))
        return self.operator

    def client(self, who: Identity) -> AsyncDarkPoolClient:
        return AsyncDarkPoolClient("http://op", who, transport=httpx.ASGITransport(app=self.app))

    def post(self, price: float, stamp: int | None = None) -> None:
        """The feed's owner posts ``price`` stamped ``stamp`` (default: the operator's now)."""
        self.feed.post(self.owner, price, self.clock.now if stamp is None else stamp)

    async def pull(self) -> str:
        outcome: dict[str, str] = await self.admin.admin("POST", "/admin/oracle/pull")
        return outcome["ETH"]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.core.journal.entries(0)]

    def close(self) -> None:
        self.core.journal.close()


def feed_world(tmp_path: Path, *, vault: bool = False) -> FeedWorld:
    """An operator whose ETH marks come from a fresh mock feed; ``vault``: it settles on the same chain, and
    three institutions deposited 100,000 USD there (credit them with ``/admin/deposits/sync``)."""
    if vault:
        chain, _, people, config = deposited_world(tmp_path / "journal.db")
    else:
        chain, people, config = embedded_chain(), identities(3), settings(tmp_path)
    owner = chain.accounts[0]
    feed = PriceFeed.deploy(chain, owner, "ETH / USD")
    config = config.model_copy(update={"oracles": f"ETH={feed.address}", "mark_max_age_s": MAX_AGE_S})
    world = FeedWorld(chain, owner, feed, Clock(), config, people=tuple(people))
    world.start()
    return world


async def cleared_round(world: FeedWorld, instrument: str, reference: int,
                        orders: list[tuple[Identity, Side, int, int]]) -> dict[str, Any]:
    """Open a commit-reveal round of ``instrument``, commit and reveal ``orders`` (who, side, limit, lots), clear."""
    admin = world.admin
    rid = (await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": instrument,
                                                 "reference_ticks": reference, "band_low_ticks": reference - 4,
                                                 "levels": 8}))["round_id"]
    clients = {who.address: world.client(who) for who, *_ in orders}
    tickets = [(clients[who.address], await clients[who.address].commit_order(rid, instrument, side, limit, lots))
               for who, side, limit, lots in orders]
    await close_commits(admin, world.clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for client, ticket in tickets:
        await client.reveal(ticket)
    await admin.admin("POST", f"/rounds/{rid}/clear")
    published: list[dict[str, Any]] = await admin.admin("GET", "/audit/rounds")
    return next(r for r in published if r["round_id"] == rid)
