"""An account pushed under maintenance by the price feed has its reduce-only order placed in the next FHE round of
its instrument, in a slot the operator takes as liquidator; it fills against a client's order, books to the
account, replays equal and passes the audit. Simulation (concrete's), a real custodian and verifier on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.audit import audit_data
from darkpool.audit._data import AuditData, fetch_custodian_log, fetch_operator
from darkpool.domain import Side
from darkpool.operator.api.app import create_operator_core
from darkpool.settlement import embedded_chain
from darkpool.settlement.oracle import PriceFeed
from tests.operator.fhe_helpers import FheWorld, fhe_world
from tests.operator.helpers import ADMIN, Clock

pytestmark = pytest.mark.fhe

LEVELS = 4


@dataclass
class LiquidationWorld:
    fhe: FheWorld
    feed: PriceFeed
    owner: str
    clock: Clock
    chain: Any

    @property
    def core(self) -> Any:
        return self.fhe.operator_app.state.core

    def mark(self, price: float) -> None:
        self.feed.post(self.owner, price, self.clock.now)
        outcome = self.fhe.admin().admin("POST", "/admin/oracle/pull")
        assert outcome["ETH"] == "ok", outcome

    def fhe_round(self, reference: int, orders: list[tuple[int, Side, int, int]]) -> int:
        """Open a 4-slot FHE round of ETH-PERP at ``reference``, submit ``(person, side, limit, lots)``, clear it."""
        admin = self.fhe.admin()
        rid = int(admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP",
                                                  "reference_ticks": reference, "band_low_ticks": reference - 2,
                                                  "levels": LEVELS, "slot_count": 4})["round_id"])
        for who, side, limit, lots in orders:
            self.fhe.client(self.fhe.people[who]).fhe_order(rid, "ETH-PERP", side, limit, lots)
        admin.admin("POST", f"/rounds/{rid}/clear")
        return rid

    def audit_data(self) -> AuditData:
        """What the auditors read (with a token that shows private entries too), and the custodian's log."""
        with httpx.Client(base_url=self.fhe.operator_url, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            data = fetch_operator(http)
        with httpx.Client(base_url=self.fhe.custodian_url) as http:
            data.custodian_log = fetch_custodian_log(http)
        return data


def _checks(data: AuditData) -> dict[str, tuple[bool | None, str]]:
    return {c.name: (c.ok, c.detail) for c in audit_data(data).checks}


@contextmanager
def liquidation_world(tmp_path: Path) -> Iterator[LiquidationWorld]:
    """Alpha (700 USD) bought ETH-PERP from beta in an FHE round at 3000; gamma is funded and flat."""
    chain = embedded_chain()
    owner = chain.accounts[0]
    feed = PriceFeed.deploy(chain, owner, "ETH / USD")
    clock = Clock()
    with fhe_world(tmp_path, simulate=True, clock=clock, chain=chain, mark_max_age_s=600,
                   operator={"oracles": f"ETH={feed.address}"}) as fhe:
        world = LiquidationWorld(fhe, feed, owner, clock, chain)
        admin = fhe.admin()
        for i, amount in enumerate((700 * 10**6, 10**12, 10**12), start=1):
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": fhe.people[i - 1].address,
                                                    "amount": amount})
        world.mark(3000.0)
        world.fhe_round(300_000, [(0, Side.BUY, 300_001, 255), (1, Side.SELL, 299_998, 255)])
        yield world


def _lots(core: Any, who: str) -> int:
    return sum(p.lots for p in core.margin.positions(who) if p.instrument == "ETH-PERP")


def _state(core: Any) -> dict[str, Any]:
    return {"rounds": [r.summary() for r in core.rounds.values()], "balances": core.balances(),
            "positions": {a: core.margin.positions(a) for a in core.margin.accounts}, "fills": list(core.books.fills),
            "head": core.journal.head, "seq": core.journal.seq, "nonces": len(core.verifier.nonces)}


def test_fhe_round_when_feed_moves_account_under_maintenance_then_its_reduce_only_order_fills_there(
    tmp_path: Path,
) -> None:
    with liquidation_world(tmp_path) as world:
        core, alpha = world.core, world.fhe.people[0].address.lower()
        opened = _lots(core, alpha)
        assert opened > 0 and alpha not in core.margin.liquidation_queue
        world.clock.now += 60
        world.mark(2700.0)  # -10% on chain
        assert alpha in core.margin.liquidation_queue  # the mark alone queued it
        rid = world.fhe_round(270_000, [(2, Side.BUY, 270_001, 255)])
        state = core.rounds[rid]
        (placed,) = state.liquidations.values()
        assert (placed.account, Side(placed.side)) == (alpha, Side.SELL) and placed.slot == 1
        assert state.slots[placed.slot] == alpha and state.evaluated.slot_fills[placed.slot] > 0
        after = _lots(core, alpha)
        assert 0 <= after < opened and after == opened - state.evaluated.slot_fills[placed.slot]
        liquidation_fills = [f for f in core.books.fills if f.order_id == placed.order_id]
        assert [(f.account, f.side) for f in liquidation_fills] == [(alpha, Side.SELL)]
        published = next(r for r in world.fhe.admin().admin("GET", "/audit/rounds") if r["round_id"] == rid)
        assert published["liquidations"][0]["account"] == alpha
        checks = _checks(world.audit_data())
        assert all(ok is not False for ok, _ in checks.values()), checks
        assert checks["FHE liquidations are the margin queue's reduce-only orders"][0] is True
        settings, before = world.fhe.operator_app.state.settings, _state(core)
    again = create_operator_core(settings, clock=world.clock, chain=world.chain, fhe_backend=object())
    assert _state(again) == before  # replayed once: the liquidation fill is booked once
    assert sum(f.order_id == placed.order_id for f in again.books.fills) == 1
    again.journal.close()
