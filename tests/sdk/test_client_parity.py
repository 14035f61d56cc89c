"""The sync and async clients are twins: the same verbs, and one scenario through each gives the same results.

Both run against the operator app in process (httpx ``ASGITransport``) settling on py-evm. The sync
client runs in a worker thread; its transport hands each request to the same ASGI app on the
test's event loop, so the two clients differ only in how they drive the shared operations.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from darkpool.errors import PhaseError
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient, DarkPoolClient, Identity, Ops
from darkpool.settlement import Vault
from tests.operator.helpers import ADMIN, ORDERS, Clock, deposited_world, settings

pytestmark = [pytest.mark.anyio, pytest.mark.chain]

Verb = Callable[..., Awaitable[Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _verbs(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_") and name not in {"close", "aclose"}}


def test_clients_when_compared_have_the_same_verbs_with_the_same_signatures() -> None:
    sync, asynchronous = _verbs(DarkPoolClient), _verbs(AsyncDarkPoolClient)
    assert set(sync) == set(asynchronous)
    for name, signature in sync.items():
        assert signature.parameters.keys() == asynchronous[name].parameters.keys(), name
        assert inspect.iscoroutinefunction(getattr(AsyncDarkPoolClient, name)), name


class _ThreadASGITransport(httpx.BaseTransport):
    """A sync transport for a client in a worker thread: each request runs on the event loop's ASGI app."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

        request.read()
        return anyio.from_thread.run(send)


def _ops(who: Identity | None, clock: Clock) -> Ops:
    nonces = itertools.count(1)  # the same nonces in both runs: order ids and leaves are equal
    return Ops(who, clock=clock, nonce_source=lambda: next(nonces))


def _as_async(client: DarkPoolClient | AsyncDarkPoolClient) -> Callable[[str], Verb]:
    """``verb(name)(*args)`` awaits the async client's verb, or runs the sync one in a worker thread."""
    if isinstance(client, AsyncDarkPoolClient):
        return lambda name: getattr(client, name)

    def verb(name: str) -> Verb:
        async def call(*args: Any) -> Any:
            return await anyio.to_thread.run_sync(lambda: getattr(client, name)(*args))

        return call

    return verb


async def _scenario(tmp_path: Path, kind: str) -> dict[str, Any]:
    """Deposit on chain and get it credited, trade one commit-reveal round, read, withdraw, settle, verify."""
    chain, d, people, on_chain = deposited_world(tmp_path / f"{kind}.db")
    clock = Clock()
    app = create_operator_app(on_chain, clock=clock, chain=chain)
    if kind == "async":
        transport: Any = httpx.ASGITransport(app=app)
        make: Any = AsyncDarkPoolClient
    else:
        transport, make = _ThreadASGITransport(app), DarkPoolClient
    admin = _as_async(make("http://op", admin_token=ADMIN, transport=transport, ops=_ops(None, clock)))
    clients = [_as_async(make("http://op", transport=transport, ops=_ops(who, clock))) for who in people]
    seen: dict[str, Any] = {"credited": (await admin("admin")("POST", "/admin/deposits/sync"))["credited"]}
    await admin("admin")("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    seen["info"] = await clients[0]("info")()
    rid = (await admin("admin")("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                    "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                    "levels": 8}))["round_id"]
    tickets = [await c("commit_order")(rid, "ETH-PERP", side, limit, qty, 1000)
               for c, (side, limit, qty) in zip(clients, ORDERS, strict=True)]
    with pytest.raises(PhaseError):
        await clients[0]("reveal")(tickets[0])
    clock.now = max(clock.now, (await clients[0]("round")(rid))["commit_closes_at"])
    await admin("admin")("POST", f"/rounds/{rid}/seal")
    seen["reveals"] = [await c("reveal")(t) for c, t in zip(clients, tickets, strict=True)]
    seen["cleared"] = await admin("admin")("POST", f"/rounds/{rid}/clear")
    seen["followed"] = await clients[1]("follow")(rid, "cleared", 5.0, 0.01)
    seen["rounds"] = await clients[1]("rounds")()
    seen["reads"] = [(await c("balance")(), await c("positions")(), await c("fills")(), await c("margin")())
                     for c in clients]
    withdrawal_id = await clients[1]("withdraw")(10**9)
    seen["batch"] = await admin("admin")("POST", "/batches")
    seen["withdrawal"] = await clients[1]("withdrawal")(withdrawal_id)
    seen["proofs"] = [await c("proofs")() for c in clients]
    vault = Vault(chain, d.vault)
    seen["verified"] = [await c("verify_inclusion")(vault.committed_batches()) for c in clients]
    proof = seen["proofs"][1][-1]["withdrawals"][0]
    chain.advance_time(vault.challenge_window())
    vault.claim_withdrawal(people[1], seen["batch"]["batch_id"], withdrawal_id, people[1].address, proof["amount"],
                           proof["proof"])
    seen["paid"] = vault.token().balance_of(people[1].address)
    app.state.core.journal.close()
    return seen


def _without_chain_noise(seen: dict[str, Any]) -> dict[str, Any]:
    """Drop what differs between two runs by design: hashes over salted commitments, the operator's own key."""
    noisy = {"head", "journal_head", "tx", "commitments_root"}

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in noisy}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return {k: clean(v) for k, v in seen.items() if k != "info"}


async def test_scenario_when_run_through_sync_and_async_clients_gives_equal_results(tmp_path: Path) -> None:
    through_async = await _scenario(tmp_path, "async")
    through_sync = await _scenario(tmp_path, "sync")
    assert through_async["credited"] == 3 and through_async["cleared"]["result"]["volume_lots"] == 12
    assert through_async["withdrawal"]["batch_id"] == through_async["batch"]["batch_id"]
    assert all(any("balance" in s for s in statements) for statements in through_async["verified"])
    assert through_async["paid"] == 10**12 - 10**11 + 10**9
    assert _without_chain_noise(through_sync) == _without_chain_noise(through_async)


async def test_follow_when_phase_never_comes_times_out_after_its_polls(tmp_path: Path) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))
    rid = (await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                 "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                 "levels": 8}))["round_id"]
    with anyio.fail_after(5), pytest.raises(TimeoutError, match="did not reach cleared"):
        await admin.follow(rid, "cleared", timeout_s=0.05, poll_s=0.01)
    await admin.aclose()
    app.state.core.journal.close()
