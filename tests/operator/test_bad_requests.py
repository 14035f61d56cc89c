"""Malformed, unsigned, wrongly signed, replayed, expired and out-of-phase requests: 4xx, a code, no state change."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.operator import create_operator_app
from darkpool.signing import Commitment, SigningDomain, WithdrawalRequest, signed_to_wire
from tests.operator.helpers import ADMIN, NOW, TOKEN, VAULT, Clock, identities, settings

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {ADMIN}"}
DOMAIN = SigningDomain(31337, VAULT)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    clock = Clock()
    app = create_operator_app(settings(tmp_path, rate_burst=5.0, rate_per_s=0.001), clock=clock)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op")
    who = identities(1)[0]
    await http.post("/admin/deposits", json={"deposit_id": 1, "account": who.address, "amount": 10**9}, headers=AUTH)
    await http.post("/admin/marks", json={"underlying": "ETH", "price": 3000.0}, headers=AUTH)
    await http.post("/rounds", json={"mode": "commit_reveal", "instrument": "ETH-PERP", "reference_ticks": 300_000,
                                     "band_low_ticks": 299_996, "levels": 8}, headers=AUTH)
    yield http, app
    await http.aclose()
    app.state.core.journal.close()


def _commit(nonce: int = 1, expiry: int = NOW + 100, round_id: int = 1) -> dict[str, Any]:
    who = identities(1)[0]
    message = Commitment(account=who.address, instrument="ETH-PERP", round_id=round_id, commitment=b"\x01" * 32,
                         bond=0, nonce=nonce, expiry=expiry)
    return signed_to_wire(who.sign(message, DOMAIN))


def _unsigned() -> dict[str, Any]:
    body = _commit()
    body["signature"] = "0x" + "00" * 64 + "1b"
    return body


def _wrong_signer() -> dict[str, Any]:
    body = _commit()
    other = identities(2)[1]
    body["message"]["account"] = other.address
    return body


def _tampered() -> dict[str, Any]:
    body = _commit()
    body["message"]["bond"] = 5
    return body


def _wrong_chain() -> dict[str, Any]:
    body = _commit()
    body["chain_id"] = 1
    return body


def _high_s() -> dict[str, Any]:
    from darkpool.signing import SECP256K1_N

    body = _commit()
    sig = bytes.fromhex(body["signature"][2:])
    s = SECP256K1_N - int.from_bytes(sig[32:64], "big")
    body["signature"] = "0x" + (sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])).hex()
    return body


BAD_COMMITS = [
    ("not json", None, 422, "malformed_request"),
    ("missing field", {"type": "Commitment", "message": {}}, 422, "malformed_request"),
    ("unknown type", {**_commit(), "type": "Nope"}, 422, "invalid_input"),
    ("extra field", {**_commit(), "extra": 1}, 422, "malformed_request"),
    ("string nonce", {**_commit(), "message": {**_commit()["message"], "nonce": "1"}}, 422, "invalid_input"),
    ("unsigned", _unsigned(), 401, "invalid_signature"),
    ("wrong signer", _wrong_signer(), 401, "invalid_signature"),
    ("tampered", _tampered(), 401, "invalid_signature"),
    ("wrong chain", _wrong_chain(), 401, "wrong_chain_id"),
    ("high s", _high_s(), 401, "malleable_signature"),
    ("expired", _commit(expiry=NOW - 1), 401, "expired_message"),
    ("no such round", _commit(round_id=9), 404, "not_found"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_COMMITS, ids=[b[0] for b in BAD_COMMITS])
async def test_commit_when_request_is_bad_returns_4xx_code_and_changes_nothing(
    env: tuple[httpx.AsyncClient, Any], name: str, body: Any, status: int, code: str
) -> None:
    http, app = env
    before = app.state.core.journal.seq
    round_id = body["message"].get("round_id", 1) if isinstance(body, dict) and body.get("message") else 1
    if body is None:
        response = await http.post("/rounds/1/commitments", content=b"{nope",
                                   headers={"content-type": "application/json"})
    else:
        response = await http.post(f"/rounds/{round_id}/commitments", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert app.state.core.journal.seq == before


async def test_commit_when_replayed_returns_409_replayed_message(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = env
    body = _commit(nonce=42)
    assert (await http.post("/rounds/1/commitments", json=body)).status_code == 202
    before = app.state.core.journal.seq
    response = await http.post("/rounds/1/commitments", json=copy.deepcopy(body))
    assert response.status_code == 409 and response.json()["error"]["code"] == "replayed_message"
    assert app.state.core.journal.seq == before


async def test_requests_when_out_of_phase_return_409_and_change_nothing(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = env
    before = app.state.core.journal.seq
    reveal = {"account": identities(1)[0].address, "nonce": 1, "side": 0, "limit_ticks": 1, "quantity_lots": 1,
              "salt": "0x" + "00" * 32}
    for response in (await http.post("/rounds/1/reveals", json=reveal),
                     await http.post("/rounds/1/clear", headers=AUTH),
                     await http.post("/rounds/1/seal", headers=AUTH)):
        assert response.status_code == 409 and response.json()["error"]["code"] in {"wrong_phase", "too_early"}
    assert app.state.core.journal.seq == before
    app.state.core.clock.now = (await http.get("/rounds/1")).json()["commit_closes_at"]
    assert (await http.post("/rounds/1/seal", headers=AUTH)).status_code == 200
    after_seal = app.state.core.journal.seq
    assert after_seal == before + 2  # the seal, then its root on chain (none here: recorded at once)
    response = await http.post("/rounds/1/commitments", json=_commit(nonce=3))
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_late"
    assert (await http.post("/rounds/1/seal", headers=AUTH)).status_code == 409
    assert app.state.core.journal.seq == after_seal


async def test_withdraw_when_over_balance_returns_403_and_when_flooded_429(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, app = env
    who = identities(1)[0]
    before = app.state.core.journal.seq
    codes = []
    for nonce in range(8):
        message = WithdrawalRequest(account=who.address, token=TOKEN, amount=10**10, nonce=nonce, expiry=NOW + 100)
        response = await http.post("/withdrawals", json=signed_to_wire(who.sign(message, DOMAIN)))
        codes.append((response.status_code, response.json()["error"]["code"]))
    assert codes[0] == (403, "policy_violation")
    assert (429, "rate_limited") in codes
    assert app.state.core.journal.seq == before


async def test_openapi_when_requested_lists_every_router(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, _ = env
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in ("/rounds", "/withdrawals", "/batches", "/audit/journal", "/accounts/{address}/proofs", "/info"):
        assert path in paths


@pytest.mark.attack
async def test_audit_journal_when_cursor_beyond_int64_then_422_not_500(env: tuple[httpx.AsyncClient, Any]) -> None:
    http, _ = env
    response = await http.get("/audit/journal", params={"after": 2**63})
    assert response.status_code == 422 and response.json()["error"]["code"] == "malformed_request"
