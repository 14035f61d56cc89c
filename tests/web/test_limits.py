"""Abuse bounds (issue 16 failures 4 and 5): request size, rate limits on the verified signer, bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.errors import RateLimited
from darkpool.operator import create_operator_app
from darkpool.signing import Commitment, signed_to_wire
from darkpool.web.limits import DEFAULT_MAX_BODY_BYTES
from darkpool.web.ratelimit import RateLimiter
from tests.operator.helpers import ADMIN, NOW, Clock, identities, settings

pytestmark = [pytest.mark.anyio, pytest.mark.attack]
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_operator_app(settings(tmp_path, rate_burst=3.0, rate_per_s=0.001), clock=Clock())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op")
    for i, who in enumerate(identities(2), start=1):
        await http.post("/admin/deposits", json={"deposit_id": i, "account": who.address, "amount": 10**9},
                        headers=AUTH)
    await http.post("/rounds", json={"mode": "commit_reveal", "instrument": "ETH-PERP", "reference_ticks": 300_000,
                                     "band_low_ticks": 299_996, "levels": 8}, headers=AUTH)
    yield http, app
    await http.aclose()
    app.state.core.journal.close()


def _commit(signer: int, nonce: int, claimed: int | None = None) -> dict[str, Any]:
    people = identities(2)
    message = Commitment(account=people[signer if claimed is None else claimed].address, instrument="ETH-PERP",
                         round_id=1, commitment=b"\x01" * 32, bond=0, nonce=nonce, expiry=NOW + 100)
    return signed_to_wire(people[signer].sign(message, app_domain()))


def app_domain() -> Any:
    from darkpool.signing import SigningDomain
    from tests.operator.helpers import VAULT

    return SigningDomain(31337, VAULT)


async def test_body_when_over_limit_then_413_in_project_format_and_nothing_journaled(
    env: tuple[httpx.AsyncClient, Any]
) -> None:
    http, app = env
    seq = app.state.core.journal.seq
    declared = await http.post("/rounds/1/commitments", content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1))
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: cut at the limit as it arrives
        for _ in range(64):
            yield b"y" * (1 << 16)

    streamed = await http.post("/rounds/1/commitments", content=stream())
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "payload_too_large"
    assert app.state.core.journal.seq == seq


async def test_rate_limit_when_forger_claims_victims_account_then_victim_still_commits(
    env: tuple[httpx.AsyncClient, Any]
) -> None:
    http, _ = env
    # The attacker (key 1) signs commitments claiming the victim's (key 0) account: each is refused,
    # and each spends the attacker's own bucket, not the victim's.
    codes = [(await http.post("/rounds/1/commitments", json=_commit(1, n, claimed=0))).status_code
             for n in range(1, 6)]
    assert codes[:3] == [401, 401, 401] and 429 in codes
    victim = await http.post("/rounds/1/commitments", json=_commit(0, 1))
    assert victim.status_code == 202


def test_rate_limiter_when_flooded_with_fresh_keys_then_memory_stays_bounded() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1.0, clock=lambda: 0.0, max_keys=1000)
    for i in range(50_000):
        limiter.take(f"key-{i}")
    assert len(limiter._buckets) <= 1000
    limiter.take("victim")
    with pytest.raises(RateLimited):
        limiter.take("victim")  # the most recently used bucket is kept, so its limit holds


async def test_account_reads_when_unsigned_forged_or_foreign_then_refused(env: tuple[httpx.AsyncClient, Any]) -> None:
    """Post-trade privacy (issue 11): only the account itself (or the operator's token) reads its data."""
    import json

    from darkpool.signing import AccountRead

    http, app = env
    alice, bob = identities(2)
    now = int(app.state.core.clock())

    def grant(signer: Any, account: str, expiry: int) -> dict[str, str]:
        wire = signed_to_wire(signer.sign(AccountRead(account=account, expiry=expiry), app_domain()))
        return {"X-Darkpool-Read": json.dumps(wire)}

    path = f"/accounts/{alice.address}/balance"
    assert (await http.get(path, headers=grant(alice, alice.address, now + 60))).status_code == 200
    for headers in ({},                                            # nobody's
                    grant(bob, bob.address, now + 60),             # bob reading alice with his own grant
                    grant(bob, alice.address, now + 60),           # bob forging alice's grant
                    grant(alice, alice.address, now - 3600),       # expired long ago
                    grant(alice, alice.address, now + 86_400),     # valid for a day: refused
                    {"X-Darkpool-Read": "not json"}):
        for what in ("balance", "positions", "fills", "margin", "proofs"):
            response = await http.get(f"/accounts/{alice.address}/{what}", headers=headers)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert (await http.get(path, headers=AUTH)).status_code == 200  # the operator's own tooling


async def test_openapi_when_read_documents_every_error_status_on_every_route(
    env: tuple[httpx.AsyncClient, Any]
) -> None:
    http, _ = env
    spec = (await http.get("/openapi.json")).json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            documented = set(operation["responses"])
            assert {"401", "403", "404", "409", "413", "422", "429", "503"} <= documented, (method, path)


async def test_body_when_not_utf8_then_error_in_project_format(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = env
    seq = app.state.core.journal.seq
    for path in ("/rounds/1/commitments", "/rounds/1/reveals", "/withdrawals", "/rounds/1/cancellations"):
        response = await http.post(path, content=b"\xff\xfe{", headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500 and "error" in response.json(), (path, response.text)
    assert app.state.core.journal.seq == seq


def test_bearer_when_configured_token_empty_then_nobody_is_admitted() -> None:
    from darkpool.errors import Unauthorized
    from darkpool.web.http import check_bearer

    for given in ("Bearer ", "Bearer", "", None):
        with pytest.raises(Unauthorized):
            check_bearer(given, "")
