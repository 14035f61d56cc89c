"""Perpetual funding: from the premium of the last clearing price over the on-chain index, clamped, paid longs to
shorts, zero-sum at every accrual, journaled, in the next batch's balances; the auditor recomputes it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.audit._checks import funding_follows_prices
from darkpool.audit._data import AuditData
from darkpool.domain import Lots, Side, Ticks
from darkpool.ledger import JournalEntry
from darkpool.margin import funding_rate
from darkpool.operator.events import FundingPaid, MarkSet, Mode, RoundCleared, RoundOpened, encode
from tests.derivatives.helpers import cleared_round, feed_world
from tests.margin.helpers import T0, addr, engine, perp, trade
from tests.operator.helpers import ADMIN

pytestmark = pytest.mark.anyio

PERP = perp()
SCALE = 10**6
DOMAIN = {"instruments": [{"symbol": PERP.symbol, "underlying": "ETH"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _entry(seq: int, event: Any) -> JournalEntry:
    kind, payload = encode(event)
    return JournalEntry(seq, kind, json.dumps(payload, sort_keys=True).encode(), b"\x00" * 32)  # type: ignore[arg-type]


def _journal(price_ticks: int, index: float, payment: FundingPaid) -> list[JournalEntry]:
    return [_entry(1, RoundOpened(1, Mode.COMMIT_REVEAL, PERP.symbol, price_ticks, price_ticks - 4, 8, T0)),
            _entry(2, RoundCleared(1, (), price_ticks, 1, T0)),
            _entry(3, MarkSet("ETH", index, T0, "0xfeed", 1, T0)),
            _entry(4, payment)]


@settings(max_examples=60, deadline=None)
@given(trades=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 40)), min_size=1, max_size=8),
       price_ticks=st.integers(200_000, 400_000), index=st.floats(2000.0, 4000.0), cap=st.floats(0.0, 0.05),
       intervals=st.integers(1, 5))
def test_funding_when_any_book_and_prices_then_zero_sum_every_accrual_and_auditor_agrees(
    trades: list[tuple[int, int, int]], price_ticks: int, index: float, cap: float, intervals: int,
) -> None:
    e = engine()
    accounts = [addr(n) for n in range(1, 6)]
    for who in accounts:
        e.deposit(who, 10**12)
    e.apply_fills([f for buyer, seller, lots in trades if buyer != seller
                   for f in (trade(accounts[buyer - 1], PERP.symbol, Side.BUY, Lots(lots), Ticks(300_000)),
                             trade(accounts[seller - 1], PERP.symbol, Side.SELL, Lots(lots), Ticks(300_000)))], T0)
    longs, shorts = e.open_interest(PERP.symbol)
    rate, per_lot = funding_rate(PERP, price_ticks, index, cap, SCALE)
    before = {who: e.cash(who) for who in accounts}
    held = {who: next((p.lots for p in e.positions(who) if p.instrument == PERP.symbol), 0) for who in accounts}
    e.pay_funding(PERP.symbol, per_lot * intervals)
    moved = {who: e.cash(who) - before[who] for who in accounts}
    assert longs == shorts and sum(moved.values()) == 0  # exactly: an integer per lot, open lots net to zero
    assert all(moved[who] == -held[who] * per_lot * intervals for who in accounts)
    payment = FundingPaid(PERP.symbol, 5, intervals, price_ticks, index, PERP.tick_size, PERP.contract_size * SCALE,
                          cap, rate, per_lot, T0, longs, shorts)
    assert funding_follows_prices(AuditData(_journal(price_ticks, index, payment), [], [], [], domain=DOMAIN)).ok


@pytest.mark.attack
def test_audit_when_funding_claims_unequal_sides_or_another_rate_then_check_fails() -> None:
    rate, per_lot = funding_rate(PERP, 303_000, 3000.0, 0.0075, SCALE)
    honest = FundingPaid(PERP.symbol, 5, 1, 303_000, 3000.0, PERP.tick_size, PERP.contract_size * SCALE, 0.0075, rate,
                         per_lot, T0, 40, 40)
    assert funding_follows_prices(AuditData(_journal(303_000, 3000.0, honest), [], [], [], domain=DOMAIN)).ok
    for forged, why in (
        (replace(honest, short_lots=39), "does not net to zero"),
        (replace(honest, per_lot=per_lot * 2), "clamped premium"),
        (replace(honest, index_price=2900.0), "the journal's were"),
    ):
        check = funding_follows_prices(AuditData(_journal(303_000, 3000.0, forged), [], [], [], domain=DOMAIN))
        assert check.ok is False and why in check.detail, check


@pytest.mark.chain
async def test_funding_when_interval_ends_then_paid_from_feed_index_zero_sum_and_in_next_batch_balances(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path, vault=True)
    admin = world.admin
    await admin.admin("POST", "/admin/deposits/sync")
    world.post(3000.0)
    await world.pull()
    buyer, seller, _ = world.people
    cleared = await cleared_round(world, PERP.symbol, 300_000, [(buyer, Side.BUY, 300_004, 20),
                                                                (seller, Side.SELL, 299_996, 20)])
    assert cleared["result"]["volume_lots"] == 20
    world.post(2970.0)  # the perp trades rich over the on-chain index: longs pay
    await world.pull()
    assert (await admin.admin("POST", "/admin/funding"))["payments"][0]["intervals"] == 0  # the clock starts
    first = await admin.admin("POST", "/batches")
    world.clock.now += world.core.margin.config.funding_interval_s
    world.post(2970.0)
    await world.pull()
    (payment,) = (await admin.admin("POST", "/admin/funding"))["payments"]
    assert payment["intervals"] == 1 and payment["index_price"] == 2970.0 and payment["rate"] == 0.0075  # capped
    second = await admin.admin("POST", "/batches")
    moved = {a: second["balances"][a] - first["balances"][a] for a in first["balances"]}
    assert sum(moved.values()) == 0
    assert moved[buyer.address.lower()] == -20 * payment["per_lot"] < 0 < moved[seller.address.lower()]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app), base_url="http://op",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        journal = (await http.get("/audit/journal", params={"limit": 10_000})).json()
        info = (await http.get("/info")).json()
    funded = [json.loads(e["payload"]) for e in journal if e["kind"] == "funding"]
    assert (funded[-1]["long_lots"], funded[-1]["short_lots"]) == (20, 20)
    check = funding_follows_prices(AuditData([JournalEntry.from_json_dict(e) for e in journal], [], [], [],
                                             domain=info))
    assert check.ok is True, check
    world.close()


@pytest.mark.chain
async def test_funding_when_underlying_halted_then_waits_and_pays_every_interval_once_the_index_is_good(
    tmp_path: Path,
) -> None:
    world = feed_world(tmp_path)
    admin = world.admin
    buyer, seller, _ = world.people
    for n, who in enumerate((buyer, seller), start=1):
        await admin.admin("POST", "/admin/deposits", {"deposit_id": n, "account": who.address, "amount": 10**12})
    world.post(3000.0)
    await world.pull()
    await cleared_round(world, PERP.symbol, 300_000, [(buyer, Side.BUY, 300_004, 20), (seller, Side.SELL, 299_996, 20)])
    await admin.admin("POST", "/admin/funding")  # the clock starts
    world.clock.now += 2 * world.core.margin.config.funding_interval_s
    world.feed.post_raw(world.owner, -1, world.clock.now)
    assert "not a positive price" in await world.pull()
    assert (await admin.admin("POST", "/admin/funding"))["payments"] == []  # no index to pay against
    world.post(2970.0)
    assert await world.pull() == "ok"
    (payment,) = (await admin.admin("POST", "/admin/funding"))["payments"]
    assert payment["intervals"] == 2 and payment["index_price"] == 2970.0
    world.close()
