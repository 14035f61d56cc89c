"""Perpetual funding through the operator: journaled, paid longs to shorts, zero-sum, replayed, audited."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from darkpool.audit._checks import funding_follows_prices
from darkpool.audit._data import AuditData
from darkpool.ledger import JournalEntry
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from tests.operator.helpers import ADMIN, Clock, commit_reveal_round, fund, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_funding_when_interval_ends_then_longs_pay_shorts_zero_sum_and_replay_agrees(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    people = identities()
    await fund(admin, people)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    cleared = await commit_reveal_round(admin, clients, clock)
    price = cleared["result"]["price_ticks"]
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 2990.0})  # the perp trades rich
    assert (await admin.admin("POST", "/admin/funding"))["payments"][0]["intervals"] == 0  # the clock starts
    core = app.state.core
    before = {who.address.lower(): core.margin.cash(who.address.lower()) for who in people}
    lots = {a: next((p.lots for p in core.margin.positions(a) if p.instrument == "ETH-PERP"), 0) for a in before}
    clock.now += core.margin.config.funding_interval_s
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 2990.0})
    (payment,) = (await admin.admin("POST", "/admin/funding"))["payments"]
    assert payment["intervals"] == 1 and payment["last_price_ticks"] == price and payment["rate"] > 0
    moved = {a: core.margin.cash(a) - before[a] for a in before}
    assert sum(moved.values()) == 0 and any(moved.values())
    assert all(moved[a] == -lots[a] * payment["per_lot"] for a in moved)  # longs pay, shorts receive
    assert (await admin.admin("POST", "/admin/funding"))["payments"] == []  # once per interval
    async with httpx.AsyncClient(transport=transport, base_url="http://op",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as http:
        journal = (await http.get("/audit/journal", params={"limit": 10_000})).json()
        info = (await http.get("/info")).json()
    assert [e["kind"] for e in journal].count("funding") == 2
    data = AuditData([JournalEntry.from_json_dict(e) for e in journal], [], [], [], domain=info)
    assert funding_follows_prices(data).ok is True
    tampered = [dict(e, payload=e["payload"].replace(f'"per_lot":{payment["per_lot"]}', '"per_lot":1'))
                if e["kind"] == "funding" else e for e in journal]
    data = AuditData([JournalEntry.from_json_dict({k: v for k, v in e.items() if k != "payload_hash"})
                      for e in tampered], [], [], [], domain=info)
    check = funding_follows_prices(data)
    assert check.ok is False and "per lot" in check.detail
    balances = {a: core.margin.cash(a) for a in before}
    core.journal.close()
    replayed = create_operator_app(settings(tmp_path), clock=clock)
    assert {a: replayed.state.core.margin.cash(a) for a in before} == balances
    replayed.state.core.journal.close()
