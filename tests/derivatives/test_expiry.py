"""Expiry: dated instruments settle in cash at the underlying's mark at expiry, read from the on-chain feed.

The mark at expiry is the last one observed at or before it when it was then fresh, else the
first one observed after it; an option settles at intrinsic value, positions close, the
instrument takes no more rounds or orders, and it all lands in the next batch on chain. The
auditor recomputes every settlement from the journal; an operator that settles elsewhere fails it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.audit._checks import expiries_settle_at_marks, fills_net_to_zero
from darkpool.audit._data import AuditData
from darkpool.domain import Account, Side
from darkpool.errors import PhaseError
from darkpool.ledger import JournalEntry
from darkpool.operator.events import InstrumentsExpired, MarkSet, encode
from darkpool.operator.instruments import DEFAULT_OPTION_EXPIRY
from tests.derivatives.helpers import FeedWorld, cleared_round, feed_world
from tests.operator.helpers import ADMIN

pytestmark = pytest.mark.anyio

TICK_VALUE = 100  # base units per tick per lot: 0.01 USD x 0.01 ETH x 10**6
EXPIRY = DEFAULT_OPTION_EXPIRY


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _audit_data(world: FeedWorld) -> AuditData:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://op",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        journal = (await http.get("/audit/journal", params={"limit": 10_000})).json()
        batches = (await http.get("/batches")).json()
        rounds, summaries = (await http.get("/audit/rounds")).json(), (await http.get("/rounds")).json()
        info = (await http.get("/info")).json()
    return AuditData([JournalEntry.from_json_dict(e) for e in journal], batches, rounds, summaries, domain=info)


async def _traded(world: FeedWorld, instrument: str, reference: int) -> tuple[Account, Account, int]:
    """Credit the vault deposits, mark ETH at 3,200 and have the first institution buy 3 lots from the second."""
    await world.admin.admin("POST", "/admin/deposits/sync")
    world.post(3200.0)
    assert await world.pull() == "ok"
    buyer, seller, _ = world.people
    result = await cleared_round(world, instrument, reference, [(buyer, Side.BUY, reference + 3, 3),
                                                                (seller, Side.SELL, reference - 3, 3)])
    assert result["result"]["volume_lots"] == 3
    return Account(buyer.address.lower()), Account(seller.address.lower()), int(result["result"]["price_ticks"])


@pytest.mark.chain
async def test_expiry_when_call_in_the_money_then_settles_at_intrinsic_of_mark_at_expiry_in_next_batch(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path, vault=True)
    long, short, entry = await _traded(world, "ETH-3000-C", 30_000)
    cash = {who: world.core.margin.cash(who) for who in (long, short)}
    world.clock.now = EXPIRY - 30
    world.post(3300.0, EXPIRY - 60)  # in force at expiry
    assert await world.pull() == "ok"
    world.clock.now = EXPIRY + 100
    world.post(3500.0, EXPIRY + 90)  # after expiry: moves margin, not the settlement
    assert await world.pull() == "ok"  # this pull makes the expiry due and settles it
    assert {"ETH-3000-C", "ETH-3000-P"} <= world.core.expired
    (expired,) = [json.loads(e.payload) for e in world.core.journal.entries(0) if e.kind == "expire"]
    assert expired["prices"] == [3300.0, 3300.0] and expired["marked_at"] == [EXPIRY - 60] * 2
    intrinsic = 30_000  # 3,300 - 3,000 in ticks of 0.01
    assert world.core.margin.cash(long) - cash[long] == 3 * (intrinsic - entry) * TICK_VALUE
    assert world.core.margin.cash(short) - cash[short] == -3 * (intrinsic - entry) * TICK_VALUE
    for who in (long, short):
        assert "ETH-3000-C" not in await world.admin.admin("GET", f"/accounts/{who}/positions")
    with pytest.raises(PhaseError, match="expired"):
        await world.admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-C",
                                                    "reference_ticks": 30_000, "band_low_ticks": 29_996, "levels": 8})
    batch = await world.admin.admin("POST", "/batches")
    settlement = {f["account"]: f for f in batch["fills"] if f["order_id"].startswith("expiry:ETH-3000-C")}
    assert {f["price_ticks"] for f in settlement.values()} == {intrinsic}
    assert {f["quantity_lots"] for f in settlement.values()} == {3}
    assert batch["balances"][long] == world.core.margin.cash(long)
    data = await _audit_data(world)
    assert expiries_settle_at_marks(data).ok is True
    assert fills_net_to_zero(data).ok is True  # settlement fills (round 0) net to zero too
    balances = world.core.balances()
    world.start()  # replay
    assert world.core.balances() == balances and "ETH-3000-C" in world.core.expired
    world.close()


@pytest.mark.chain
async def test_expiry_when_no_mark_near_expiry_then_waits_and_first_mark_after_settles_the_put(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path, vault=True)
    long, _, entry = await _traded(world, "ETH-3000-P", 10_000)
    world.clock.now = EXPIRY + 10  # the last mark is long stale: nothing to settle at yet
    assert (await world.admin.admin("POST", "/admin/expiries"))["settled"] == []
    await world.admin.admin("POST", "/batches")  # a stale mark delays the settlement, not the batch
    with pytest.raises(PhaseError, match="expired"):
        await world.admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-P",
                                                    "reference_ticks": 10_000, "band_low_ticks": 9_996, "levels": 8})
    before = world.core.margin.cash(long)
    world.clock.now = EXPIRY + 40
    world.post(2800.0, EXPIRY + 20)
    assert await world.pull() == "ok"
    assert "ETH-3000-P" in world.core.expired
    assert world.core.margin.cash(long) - before == 3 * (20_000 - entry) * TICK_VALUE  # 3,000 - 2,800
    batch = await world.admin.admin("POST", "/batches")
    assert {f["price_ticks"] for f in batch["fills"] if f["order_id"].startswith("expiry:ETH-3000-P")} == {20_000}
    assert expiries_settle_at_marks(await _audit_data(world)).ok is True
    world.close()


def _entry(seq: int, event: Any) -> JournalEntry:
    kind, payload = encode(event)
    return JournalEntry(seq, kind, json.dumps(payload, sort_keys=True).encode(), b"\x00" * 32)  # type: ignore[arg-type]


DOMAIN = {"mark_max_age_s": 600,
          "instruments": [{"symbol": "ETH-3000-C", "kind": "option", "underlying": "ETH", "strike_ticks": 300_000,
                           "expiry": EXPIRY, "tick_size": 0.01, "lot_size": 0.01, "right": "call"}]}


def _journal(settled_at: float, marked_at: int, before_at: int = EXPIRY - 60) -> list[JournalEntry]:
    return [_entry(1, MarkSet("ETH", 3300.0, EXPIRY - 30, "0xfeed", 7, before_at)),
            _entry(2, MarkSet("ETH", 3500.0, EXPIRY + 100, "0xfeed", 8, EXPIRY + 90)),
            _entry(3, InstrumentsExpired(("ETH-3000-C",), EXPIRY + 100, (settled_at,), (marked_at,)))]


def _batch(price_ticks: int) -> list[dict[str, Any]]:
    return [{"batch_id": 1, "fills": [{"round_id": 0, "order_id": "expiry:ETH-3000-C:0xa1", "account": "0xa1",
                                       "instrument": "ETH-3000-C", "side": 1, "quantity_lots": 3,
                                       "price_ticks": price_ticks}]}]


@pytest.mark.attack
def test_audit_when_operator_settles_at_another_mark_or_price_then_expiry_check_fails() -> None:
    honest = AuditData(_journal(3300.0, EXPIRY - 60), _batch(30_000), [], [], domain=DOMAIN)
    assert expiries_settle_at_marks(honest).ok is True
    stale_before = AuditData(_journal(3500.0, EXPIRY + 90, EXPIRY - 700), _batch(50_000), [], [], domain=DOMAIN)
    assert expiries_settle_at_marks(stale_before).ok is True  # the mark before was stale at expiry: the next one
    for journal, batches, why in (
        (_journal(3500.0, EXPIRY + 90), _batch(50_000), "not the journaled mark"),  # the later, richer mark
        (_journal(3400.0, EXPIRY - 60), _batch(40_000), "not the journaled mark"),  # a price never journaled
        (_journal(3300.0, EXPIRY - 60), _batch(31_000), "its mark at expiry gives 30000"),  # fills off the mark
        (_journal(3300.0, EXPIRY - 700, EXPIRY - 700), _batch(30_000), "not the journaled mark"),  # stale then
    ):
        check = expiries_settle_at_marks(AuditData(journal, batches, [], [], domain=DOMAIN))
        assert check.ok is False and why in check.detail, check
