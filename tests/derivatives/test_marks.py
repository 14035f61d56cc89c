"""Marks from the on-chain price feed (MockAggregator on py-evm): what is journaled, what is refused, what halts.

Each good answer becomes a mark observed at the feed's own stamp, journaled with the feed and its
round, once; a feed that stops updating goes stale however often the operator reads it; a stale,
older, non-positive or out-of-band answer is refused with its reason, journaled once, and halts the
underlying's instruments (no round opens, no order is taken) until a good answer arrives; the
operator cannot set a feed-backed mark by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darkpool.audit._check import Check
from darkpool.audit._data import AuditData, ChainView, fetch_feed_rounds
from darkpool.audit._derivatives import marks_match_feeds
from darkpool.domain import Side
from darkpool.errors import DarkPoolError, PhaseError, PolicyViolation
from darkpool.ledger import JournalEntry
from darkpool.operator.events import MarkSet, encode
from tests.derivatives.helpers import MAX_AGE_S, FeedWorld, cleared_round, feed_world

pytestmark = [pytest.mark.anyio, pytest.mark.chain]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _marks(world: FeedWorld) -> list[dict[str, object]]:
    return [json.loads(e.payload) for e in world.core.journal.entries(0) if e.kind == "mark"]


async def _open(world: FeedWorld, instrument: str = "ETH-PERP") -> int:
    opened = await world.admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": instrument,
                                                         "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                         "levels": 8, "commit_s": 3600})
    return int(opened["round_id"])


async def test_pull_when_feed_answers_then_mark_journaled_once_with_feed_round_and_stamp(tmp_path: Path) -> None:
    world = feed_world(tmp_path)
    stamp = world.clock.now - 30
    world.post(3000.0, stamp)
    assert await world.pull() == "ok"
    assert await world.pull() == "unchanged"  # the same round is not journaled twice
    (mark,) = _marks(world)
    assert (mark["price"], mark["feed"], mark["feed_round"], mark["observed_at"]) == (3000.0, world.feed.address, 1,
                                                                                      stamp)
    assert world.core.margin._oracle.get("ETH", world.clock.now).at == stamp  # the mark's age runs from the feed
    world.close()


async def test_pull_when_feed_stops_updating_then_mark_goes_stale_and_instrument_halts(tmp_path: Path) -> None:
    world = feed_world(tmp_path)
    world.post(3000.0)
    assert await world.pull() == "ok"
    rid = await _open(world)
    world.clock.now += MAX_AGE_S + 1  # nobody posts: reading the same answer again must not refresh it
    for _ in range(2):
        assert "old" in await world.pull()
    assert world.kinds().count("oracle_refused") == 1  # one refusal per refused round, however often it is read
    with pytest.raises(PhaseError, match="halted"):
        await _open(world, "ETH-3000-C")
    buyer = world.client(world.people[0])
    await world.admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": world.people[0].address,
                                                        "amount": 10**12})
    with pytest.raises(PhaseError, match="halted"):  # the round opened before the halt takes no order either
        await buyer.commit_order(rid, "ETH-PERP", Side.BUY, 300_000, 1)
    world.post(3010.0)
    assert await world.pull() == "ok"
    assert "ETH" not in world.core.halted
    await buyer.commit_order(rid, "ETH-PERP", Side.BUY, 300_000, 1)
    world.close()


@pytest.mark.attack
async def test_pull_when_owner_posts_an_answer_older_than_the_mark_in_use_then_refused_and_halted(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path)
    world.post(3000.0)
    assert await world.pull() == "ok"
    world.post(2900.0, world.clock.now - 100)  # a newer round stamped in the past: a roll-back of the price
    refused = await world.pull()
    assert "older answer cannot replace it" in refused and "ETH" in world.core.halted
    assert world.core.marks["ETH"][0] == 3000.0
    with pytest.raises(PhaseError, match="halted"):
        await _open(world)
    world.close()


@pytest.mark.attack
async def test_set_mark_when_underlying_has_a_feed_then_operator_cannot_set_it_by_hand(tmp_path: Path) -> None:
    world = feed_world(tmp_path)
    world.post(3000.0)
    await world.pull()
    head = world.core.journal.head
    with pytest.raises(PolicyViolation, match="price feed"):
        await world.admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 2000.0})
    assert world.core.journal.head == head and world.core.marks["ETH"][0] == 3000.0
    world.close()


async def test_feed_move_when_account_falls_under_maintenance_then_queued_at_once_and_liquidated_next_round(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path)
    admin = world.admin
    alpha, beta, _ = world.people
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": alpha.address, "amount": 700 * 10**6})
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 2, "account": beta.address, "amount": 10**12})
    world.post(3000.0)
    await world.pull()
    await cleared_round(world, "ETH-PERP", 300_000, [(alpha, Side.BUY, 300_004, 200), (beta, Side.SELL, 299_996, 200)])
    opened = (await world.client(alpha).positions())["ETH-PERP"]
    assert opened > 0 and alpha.address.lower() not in world.core.margin.liquidation_queue
    world.clock.now += 60
    world.post(2700.0)  # -10% on chain, within the band: a real move
    assert await world.pull() == "ok"
    assert alpha.address.lower() in world.core.margin.liquidation_queue  # the mark alone queued it, no round ran
    out = await cleared_round(world, "ETH-PERP", 270_000, [(beta, Side.BUY, 275_000, 500)])
    assert out["extra_orders"] and all(str(x["order_id"]).startswith("liquidation:") for x in out["extra_orders"])
    after = (await world.client(alpha).positions()).get("ETH-PERP", 0)
    assert 0 <= after < opened and not (await world.client(alpha).margin())["under_maintenance"]
    world.close()


async def test_pull_when_refused_then_restart_keeps_halt_and_good_answer_lifts_it(tmp_path: Path) -> None:
    world = feed_world(tmp_path)
    world.post(3000.0)
    await world.pull()
    world.feed.post_raw(world.owner, 0, world.clock.now)
    assert "not a positive price" in await world.pull()
    world.start()  # replay
    assert "ETH" in world.core.halted and world.core.refused_rounds["ETH"] == 2
    assert "not a positive price" in await world.pull() and world.kinds().count("oracle_refused") == 1
    world.post(3001.0)
    assert await world.pull() == "ok" and world.core.feed_rounds["ETH"] == 3
    with pytest.raises(DarkPoolError):
        await world.client(world.people[0]).commit_order(await _open(world), "ETH-PERP", Side.BUY, 300_000, 1)
    world.close()


@pytest.mark.attack
async def test_audit_when_journal_claims_a_feed_round_the_chain_does_not_hold_then_marks_check_fails(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path)
    world.post(3000.0, world.clock.now - 5)
    await world.pull()
    world.post(3030.0)
    await world.pull()
    journal = list(world.core.journal.entries(0))

    def check(entries: list[JournalEntry]) -> Check:
        view = ChainView([], {}, 0, set(), feed_rounds=fetch_feed_rounds(world.chain.w3, entries))
        return marks_match_feeds(AuditData(entries, [], [], [], chain=view))

    assert check(journal).ok is True
    feed, now = world.feed.address, world.clock.now
    for forged, why in ((MarkSet("ETH", 2500.0, now, feed, 2, now), "answers 3030.0"),  # another price
                        (MarkSet("ETH", 3030.0, now, feed, 9, now), "does not hold"),  # a round never posted
                        (MarkSet("ETH", 3000.0, now, feed, 1, now), "stamped")):  # a stale round made fresh
        kind, payload = encode(forged)
        fake = JournalEntry(len(journal) + 1, kind, json.dumps(payload).encode(), b"\x00" * 32)  # type: ignore[arg-type]
        result = check([*journal, fake])
        assert result.ok is False and why in result.detail, result
    world.close()
