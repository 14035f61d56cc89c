"""Money-path attacks on the operator (issue 16, failures 2 and 3), cancel, abandon and expiry.

Each test tries to make the operator journal something it then cannot apply, book a fill twice,
or lose track of a side effect on the chain across a crash; a refused request must leave the
journal exactly as it was, and a restart must reach the same state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.domain import Side
from darkpool.errors import ChainError, PhaseError, StaleMark, UnknownCommitment, ValidationError
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient, Identity
from darkpool.signing import Cancel
from tests.operator.helpers import ADMIN, NOW, Clock, close_commits, deposited_world, fund, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Client(AsyncDarkPoolClient):
    def __init__(self, identity: Identity, transport: httpx.AsyncBaseTransport) -> None:
        super().__init__("http://op", identity, transport=transport)
        self.identity = identity


def _world(tmp_path: Path, **extra: Any) -> tuple[Any, Clock, AsyncDarkPoolClient, list[_Client]]:
    clock = Clock()
    app = create_operator_app(settings(tmp_path).model_copy(update=extra), clock=clock)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    return app, clock, admin, [_Client(who, transport) for who in identities()]


async def _open(admin: AsyncDarkPoolClient, instrument: str = "ETH-PERP", reference: int = 300_000) -> int:
    opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": instrument,
                                                   "reference_ticks": reference, "band_low_ticks": reference - 4,
                                                   "levels": 8, "commit_s": 10, "reveal_s": 10})
    return int(opened["round_id"])


def _state(app: Any) -> dict[str, Any]:
    core = app.state.core
    return {"rounds": [r.summary() for r in core.rounds.values()], "balances": core.balances(),
            "fills": list(core.books.fills), "bonds": core.bonds.snapshot(), "head": core.journal.head}


@pytest.mark.attack
async def test_clear_when_mark_stale_then_refused_unjournaled_and_books_once_after_fresh_mark(tmp_path: Path) -> None:
    app, clock, admin, clients = _world(tmp_path, mark_max_age_s=60)
    await fund(admin, [c.identity for c in clients])
    rid = await _open(admin)
    tickets = [await c.commit_order(rid, "ETH-PERP", s, lim, q) for c, (s, lim, q) in
               zip(clients[:2], [(Side.BUY, 300_002, 5), (Side.SELL, 299_998, 5)], strict=True)]
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for c, t in zip(clients, tickets, strict=False):
        await c.reveal(t)
    clock.now += 120  # the mark is now stale
    seq = app.state.core.journal.seq
    for _ in range(3):
        with pytest.raises(StaleMark):
            await admin.admin("POST", f"/rounds/{rid}/clear")
    assert app.state.core.journal.seq == seq
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    await admin.admin("POST", f"/rounds/{rid}/clear")
    with pytest.raises(PhaseError):
        await admin.admin("POST", f"/rounds/{rid}/clear")
    assert [f.quantity_lots for f in app.state.core.books.fills] == [5, 5]
    before = _state(app)
    app.state.core.journal.close()
    again = create_operator_app(app.state.settings, clock=clock)
    assert _state(again) == before
    again.state.core.journal.close()


@pytest.mark.attack
async def test_deposit_when_amount_beyond_uint256_then_refused_and_later_deposits_work(tmp_path: Path) -> None:
    app, _, admin, clients = _world(tmp_path)
    who = clients[0].identity.address
    seq = app.state.core.journal.seq
    with pytest.raises(ValidationError):
        await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": who, "amount": 10**400})
    assert app.state.core.journal.seq == seq
    await admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": who, "amount": 10**9})
    assert app.state.core.balance(who) == 10**9
    app.state.core.journal.close()


@pytest.mark.attack
async def test_mark_when_clock_steps_back_then_decisions_stay_ordered_and_replay(tmp_path: Path) -> None:
    app, clock, admin, clients = _world(tmp_path)
    await fund(admin, [c.identity for c in clients])
    clock.now -= 5  # an NTP step backwards
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3001.0})
    entries = await admin.admin("GET", "/audit/journal")
    times = [json.loads(e["payload"])["at"] for e in entries]
    assert times == sorted(times) and times[-1] == NOW  # never before an earlier decision
    before = _state(app)
    app.state.core.journal.close()
    again = create_operator_app(app.state.settings, clock=clock)
    assert _state(again) == before
    again.state.core.journal.close()


@pytest.mark.attack
async def test_cancel_when_commit_phase_open_then_commitment_leaves_and_bond_returns(tmp_path: Path) -> None:
    app, clock, admin, clients = _world(tmp_path)
    await fund(admin, [c.identity for c in clients])
    rid = await _open(admin)
    ticket = await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5, bond=1000)
    core = app.state.core
    who = clients[0].identity
    assert core.bonds.held(who.address) == 1000
    domain = core.config.domain
    cancel = who.sign(Cancel(who.address, rid, ticket.nonce, 77, NOW + 60), domain)
    from darkpool.signing import signed_to_wire

    wire = signed_to_wire(cancel)
    assert (await admin.http.post(f"/rounds/{rid}/cancellations", json=wire)).status_code == 202
    assert core.bonds.held(who.address) == 0
    assert (await admin.round(rid))["commitments"] == 0
    seq = core.journal.seq
    replayed = await admin.http.post(f"/rounds/{rid}/cancellations", json=wire)  # the same Cancel again
    assert replayed.status_code == 409 and core.journal.seq == seq
    forged = signed_to_wire(clients[1].identity.sign(Cancel(who.address, rid, ticket.nonce, 78, NOW + 60), domain))
    assert (await admin.http.post(f"/rounds/{rid}/cancellations", json=forged)).status_code == 401
    with pytest.raises(UnknownCommitment):
        core.cancel_order(who.sign(Cancel(who.address, rid, ticket.nonce, 79, NOW + 60), domain))
    # A later commitment takes a fresh priority; after the commit phase a cancel is too late.
    await clients[1].commit_order(rid, "ETH-PERP", Side.SELL, 299_998, 5)
    await close_commits(admin, clock, rid)
    late = signed_to_wire(clients[1].identity.sign(Cancel(clients[1].identity.address, rid, 1, 80, NOW + 600),
                                                   domain))
    response = await admin.http.post(f"/rounds/{rid}/cancellations", json=late)
    assert response.status_code == 409 and core.journal.seq == seq + 1
    core.journal.close()


async def test_abandon_when_round_running_then_bonds_return_and_nothing_trades(tmp_path: Path) -> None:
    app, clock, admin, clients = _world(tmp_path)
    await fund(admin, [c.identity for c in clients])
    rid = await _open(admin)
    for c, (side, limit) in zip(clients[:2], [(Side.BUY, 300_002), (Side.SELL, 299_998)], strict=True):
        await c.commit_order(rid, "ETH-PERP", side, limit, 5, bond=1000)
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    await admin.admin("POST", f"/rounds/{rid}/abandon", {"reason": "chain reorganised under the seal"})
    core = app.state.core
    assert (await admin.round(rid))["phase"] == "cancelled"
    assert all(core.bonds.held(c.identity.address) == 0 for c in clients) and not core.books.fills
    with pytest.raises(PhaseError):
        await admin.admin("POST", f"/rounds/{rid}/clear")
    assert await _open(admin) == rid + 1  # the instrument is free again
    before = _state(app)
    core.journal.close()
    again = create_operator_app(app.state.settings, clock=clock)
    assert _state(again) == before
    again.state.core.journal.close()


async def test_expiry_when_option_expires_then_positions_settle_at_mark_in_next_batch(tmp_path: Path) -> None:
    chain, _, people, s = deposited_world(tmp_path / "j.db")
    clock = Clock()
    app = create_operator_app(s, clock=clock, chain=chain)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    await admin.admin("POST", "/admin/deposits/sync")
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3200.0})
    reference = 30_000  # ticks of 0.01: a 3000 call is worth about 300 when ETH is 3200
    rid = await _open(admin, "ETH-3000-C", reference)
    tickets = [await c.commit_order(rid, "ETH-3000-C", side, limit, 3) for c, (side, limit) in
               zip(clients[:2], [(Side.BUY, reference + 3), (Side.SELL, reference - 3)], strict=True)]
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for c, t in zip(clients, tickets, strict=False):
        await c.reveal(t)
    await admin.admin("POST", f"/rounds/{rid}/clear")
    assert (await clients[0].positions())["ETH-3000-C"] == 3
    expiry = app.state.core.instruments["ETH-3000-C"].expiry
    clock.now = expiry + 1
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3100.0})
    settled = await admin.admin("POST", "/admin/expiries")
    assert "ETH-3000-C" in settled["settled"]
    # The operator's clock is now past the real one: read with the operator's own token.
    positions = await admin.admin("GET", f"/accounts/{people[0].address}/positions")
    assert positions.get("ETH-3000-C", 0) == 0
    with pytest.raises(PhaseError):
        await _open(admin, "ETH-3000-C", reference)
    batch = await admin.admin("POST", "/batches")
    expiry_fills = [f for f in batch["fills"] if f["order_id"].startswith("expiry:ETH-3000-C")]
    assert {f["quantity_lots"] for f in expiry_fills} == {3} and {f["price_ticks"] for f in expiry_fills} == {10_000}
    assert (await admin.admin("POST", "/admin/expiries"))["settled"] == []  # once only
    app.state.core.journal.close()


class _FailingOnce:
    """A real chain settler whose next call of ``method`` fails after (``after``) or before reaching the chain."""

    def __init__(self, inner: Any, method: str, *, after: bool) -> None:
        self.inner, self.method, self.after, self.armed = inner, method, after, True

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args: Any) -> Any:
            if self.armed:
                self.armed = False
                if self.after:
                    real(*args)  # the transaction lands, then the operator crashes before journaling it
                raise ChainError(f"injected failure of {name}")
            return real(*args)

        return call


def _restartable(tmp_path: Path, failing: str, *, after: bool) -> tuple[Any, Any, list[Identity], Any, Clock]:
    """A chain world whose settler fails its next ``failing`` call; return settings, the real settler,
    the institutions, an operator app on the failing settler and its clock."""
    from darkpool.operator.settler import ChainSettler

    chain, d, people, s = deposited_world(tmp_path / "j.db")
    settler = ChainSettler(chain, d.vault, d.operator)
    clock = Clock()
    app = create_operator_app(s, clock=clock, settler=_FailingOnce(settler, failing, after=after))
    return s, settler, people, app, clock


def _admin(app: Any) -> AsyncDarkPoolClient:
    return AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))


@pytest.mark.attack
@pytest.mark.chain
@pytest.mark.parametrize("after", [False, True], ids=["tx-lost", "tx-landed"])
async def test_seal_when_chain_call_fails_then_reveals_wait_and_retry_posts_root_once(tmp_path: Path,
                                                                                    after: bool) -> None:
    s, settler, people, app, clock = _restartable(tmp_path, "seal_round", after=after)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    await admin.admin("POST", "/admin/deposits/sync")
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    rid = await _open(admin)
    ticket = await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5)
    await close_commits(admin, clock, rid)
    with pytest.raises(ChainError):
        await admin.admin("POST", f"/rounds/{rid}/seal")
    summary = await admin.round(rid)
    assert summary["commitments_root"] is not None and summary["root_on_chain"] is False
    with pytest.raises(PhaseError, match="not on chain"):
        await clients[0].reveal(ticket)
    # A restart in between: the journal holds the seal, the chain may or may not hold the root.
    app.state.core.journal.close()
    app = create_operator_app(s, clock=clock, settler=settler)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    client = AsyncDarkPoolClient("http://op", people[0], transport=transport)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    assert settler.vault.commitments_root(rid) == summary["commitments_root"]
    posted = [e for e in await admin.admin("GET", "/audit/journal") if e["kind"] == "seal_posted"]
    assert len(posted) == 1 and ('"tx":null' in posted[0]["payload"]) == after
    await client.reveal(ticket)
    with pytest.raises(PhaseError):
        await admin.admin("POST", f"/rounds/{rid}/seal")
    app.state.core.journal.close()


@pytest.mark.attack
@pytest.mark.chain
@pytest.mark.parametrize("after", [False, True], ids=["tx-lost", "tx-landed"])
async def test_batch_when_chain_call_fails_then_next_settle_posts_it_once_and_ids_continue(tmp_path: Path,
                                                                                        after: bool) -> None:
    s, settler, _, app, clock = _restartable(tmp_path, "settle", after=after)
    admin = _admin(app)
    await admin.admin("POST", "/admin/deposits/sync")
    with pytest.raises(ChainError):
        await admin.admin("POST", "/batches")
    prepared = (await admin.admin("GET", "/batches"))[0]
    assert prepared["batch_id"] == 1 and prepared["posted"] is False
    app.state.core.journal.close()
    time.sleep(0)  # a restart: the journal is all the operator keeps
    app = create_operator_app(s, clock=clock, settler=settler)
    admin = _admin(app)
    second = await admin.admin("POST", "/batches")
    assert second["batch_id"] == 2 and settler.vault.last_batch_id() == 2
    batches = await admin.admin("GET", "/batches")
    assert [b["posted"] for b in batches] == [True, True]
    assert batches[0]["balances_root"] == prepared["balances_root"]
    app.state.core.journal.close()


async def test_receipt_when_sealed_then_operator_signed_and_verifies(tmp_path: Path) -> None:
    from commit_reveal import CommitmentsSealed, Receipt, verify_receipt
    from darkpool.signing import signed_from_wire

    app, clock, admin, clients = _world(tmp_path)
    await fund(admin, [c.identity for c in clients])
    rid = await _open(admin)
    ticket = await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5)
    await clients[1].commit_order(rid, "ETH-PERP", Side.SELL, 299_998, 5)
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    who = clients[0].identity.address
    view = await admin.admin("GET", f"/rounds/{rid}/receipts/{who}/{ticket.nonce}")
    receipt = Receipt(signed_from_wire(view["sealed"], CommitmentsSealed), who, ticket.nonce,
                      bytes.fromhex(view["commitment"][2:]), view["tree_index"],
                      tuple(bytes.fromhex(p[2:]) for p in view["proof"]))
    info = await admin.admin("GET", "/info")
    verify_receipt(receipt, domain=app.state.core.config.domain, operator=info["operator"])
    app.state.core.journal.close()


async def test_commit_many_when_bond_exceeds_free_balance_then_only_that_one_refused(tmp_path: Path) -> None:
    app, _, admin, clients = _world(tmp_path)
    await fund(admin, [c.identity for c in clients], amount=5000)
    rid = await _open(admin)
    core = app.state.core
    seq = core.journal.seq
    with pytest.raises(Exception, match="exceeds the free balance"):
        await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5, bond=6000)
    assert core.journal.seq == seq
    await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5, bond=3000)
    with pytest.raises(Exception, match="exceeds the free balance"):
        await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5, bond=3000)  # 6000 locked in all
    assert core.free_balance(clients[0].identity.address) == 2000
    core.journal.close()


@pytest.mark.attack
async def test_commit_when_key_never_funded_then_refused_even_with_zero_bond(tmp_path: Path) -> None:
    app, _, admin, clients = _world(tmp_path)
    await fund(admin, [clients[0].identity])  # only the first institution deposits
    rid = await _open(admin)
    core = app.state.core
    seq = core.journal.seq
    for _ in range(3):
        with pytest.raises(Exception, match="no free collateral"):
            await clients[1].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5)
    assert core.journal.seq == seq and (await admin.round(rid))["commitments"] == 0
    await clients[0].commit_order(rid, "ETH-PERP", Side.BUY, 300_002, 5)
    core.journal.close()
