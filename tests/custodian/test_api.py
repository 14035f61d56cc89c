"""The custodian's HTTP API: operator-only endpoints, typed schemas, bad input refused with a code and no change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from darkpool.crypto.boxes import BoxKey, SealedBox
from darkpool.custodian import create_custodian_app
from darkpool.sdk import Identity
from darkpool.signing import (
    MaskDelivery,
    MaskRequest,
    SigningDomain,
    SlotGrant,
    SlotReservation,
    sign,
    signed_from_wire,
    signed_to_wire,
    statement_signer,
)
from darkpool.signing.statements import mask_box_context
from darkpool.web.settings import CustodianSettings
from tests.operator.helpers import NOW, VAULT, Clock, identities

pytestmark = pytest.mark.anyio
TOKEN = "custodian-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOMAIN = SigningDomain(31337, VAULT)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=[""])
def custodian_app(tmp_path: Path, request: pytest.FixtureRequest) -> FastAPI:
    """The custodian app; circuits of ``request.param``'s shapes compiled now (concrete traces on the main thread)."""
    settings = CustodianSettings(vault=VAULT, operator_token=TOKEN, log=str(tmp_path / "log.jsonl"),
                                 key_dir=str(tmp_path / "keys"), simulate=True, shapes=request.param,
                                 cache_dir=str(tmp_path.parent / "fhe-cache"), verifiers=VERIFIER.address)
    app: FastAPI = create_custodian_app(settings, clock=Clock())
    return app


@pytest.fixture
async def custodian(custodian_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app = custodian_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://custodian") as http:
        yield http


OPERATOR = Identity.from_key(b"\x77" * 32)
VERIFIER = Identity.from_key(b"\x55" * 32)


def _mask_request(round_id: int = 1, slot: int = 0, who: Identity | None = None, key: BoxKey | None = None,
                  grant_to: Identity | None = None, granted_by: Identity = OPERATOR, nonce: int = 1) -> dict[str, Any]:
    """A client's mask request body: its signed request, its signed reservation and the operator's grant."""
    who = who or identities(1)[0]
    key = key or BoxKey()
    grantee = grant_to or who
    reservation = grantee.sign(SlotReservation(account=grantee.address, instrument="ETH-PERP", round_id=round_id,
                                               nonce=nonce, expiry=NOW + 100), DOMAIN)
    grant = SlotGrant(operator=granted_by.address, account=grantee.address, round_id=round_id, slot=slot,
                      reservation=reservation.message.digest(DOMAIN))
    request = MaskRequest(account=who.address, round_id=round_id, slot=slot, box_key=key.public, nonce=nonce,
                          expiry=NOW + 100)
    return {"request": signed_to_wire(who.sign(request, DOMAIN)), "reservation": signed_to_wire(reservation),
            "grant": signed_to_wire(sign(grant, DOMAIN, granted_by.private_key))}


DECRYPT = {"circuit_id": "c", "masks_digest": "d" * 64, "inputs_commitment": "1" * 64, "transcript_hash": "7" * 64,
           "outputs": ["AAAA"]}
OPEN = {"round_id": 1, "slots": 4, "levels": 4, "max_quantity": 255, "operator": OPERATOR.address}

BAD = [
    ("open without token", "POST", "/rounds", OPEN, {}, 401, "unauthorized"),
    ("open with wrong token", "POST", "/rounds", OPEN, {"Authorization": "Bearer nope"}, 401, "unauthorized"),
    ("open with extra field", "POST", "/rounds", {**OPEN, "extra": 1}, AUTH, 422, "malformed_request"),
    ("open with zero slots", "POST", "/rounds", {**OPEN, "slots": 0}, AUTH, 422, "malformed_request"),
    ("open with bad operator", "POST", "/rounds", {**OPEN, "operator": "alice"}, AUTH, 422, "malformed_request"),
    ("mask for another round", "POST", "/rounds/2/mask", _mask_request(round_id=1), {}, 422, "invalid_input"),
    ("mask of unopened round", "POST", "/rounds/1/mask", _mask_request(), {}, 404, "not_found"),
    ("mask unsigned", "POST", "/rounds/1/mask",
     {**_mask_request(), "request": {**_mask_request()["request"], "signature": "0x" + "00" * 64 + "1b"}}, {}, 401,
     "invalid_signature"),
    ("mask without grant", "POST", "/rounds/1/mask", {"request": _mask_request()["request"]}, {}, 422,
     "malformed_request"),
    ("mask not an envelope", "POST", "/rounds/1/mask", {"slot": 0}, {}, 422, "malformed_request"),
    ("decrypt without token", "POST", "/rounds/1/decrypt", DECRYPT, {}, 401, "unauthorized"),
    ("decrypt bad base64", "POST", "/rounds/1/decrypt", {**DECRYPT, "outputs": ["*"]}, AUTH, 422, "invalid_input"),
    ("decrypt of unopened round", "POST", "/rounds/1/decrypt", DECRYPT, AUTH, 404, "not_found"),
    ("keys of unknown circuit", "GET", "/keys/nope", None, {}, 404, "not_found"),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "headers", "status", "code"), BAD,
                         ids=[b[0] for b in BAD])
async def test_request_when_bad_returns_its_code_and_logs_nothing(
    custodian: httpx.AsyncClient, name: str, method: str, path: str, body: Any, headers: dict[str, str],
    status: int, code: str,
) -> None:
    response = await custodian.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert (await custodian.get("/log")).json() == []


async def test_openapi_when_requested_declares_request_and_response_schemas(custodian: httpx.AsyncClient) -> None:
    spec = (await custodian.get("/openapi.json")).json()
    assert set(spec["paths"]) == {"/rounds", "/rounds/{round_id}/mask", "/rounds/{round_id}/decrypt",
                                  "/rounds/{round_id}/abort", "/keys/{circuit_id}", "/log", "/log/evidence",
                                  "/log/refusals", "/identity", "/health", "/ready", "/metrics"}
    schemas = set(spec["components"]["schemas"])
    assert {"OpenRoundRequest", "OpenedRoundView", "MaskRequestBody", "SignedEnvelope", "SealedBoxView",
            "MaskView", "DecryptRequest", "DecryptedView", "LogEntryView", "EvidenceView", "IdentityView"} <= schemas
    ok = spec["paths"]["/rounds"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/OpenedRoundView"}


def _open(mask: dict[str, Any], key: BoxKey, who: Identity, custodian: str, round_id: int = 1) -> bytes:
    """What the SDK does with a mask response: check the custodian's signature, then open the box."""
    delivery = signed_from_wire(mask["delivery"], MaskDelivery)
    said = delivery.message
    assert isinstance(said, MaskDelivery) and statement_signer(delivery, DOMAIN) == custodian
    box = SealedBox.from_wire(mask["box"])
    assert said.box == box.digest
    return key.open(box, mask_box_context(DOMAIN, round_id, said.slot, who.address))


@pytest.mark.fhe
@pytest.mark.parametrize("custodian_app", ["4x4x255"], indirect=True)
async def test_round_when_opened_seals_each_mask_to_its_granted_owner_only(custodian: httpx.AsyncClient) -> None:
    opened = (await custodian.post("/rounds", json=OPEN, headers=AUTH)).json()
    assert opened["round_id"] == "1" and opened["slots"] == 4 and opened["masks"]
    assert opened["custodian"] == (await custodian.get("/identity")).json()["address"]
    # Opening the same round again (an operator that crashed before journaling it) gives the same Enc(R).
    assert (await custodian.post("/rounds", json=OPEN, headers=AUTH)).json() == opened
    other = await custodian.post("/rounds", json={**OPEN, "operator": identities(1)[0].address}, headers=AUTH)
    assert other.status_code == 403 and other.json()["error"]["code"] == "policy_violation"
    alice, bob = identities(2)
    key = BoxKey()
    mask = (await custodian.post("/rounds/1/mask", json=_mask_request(who=alice, key=key))).json()
    digits = _open(mask, key, alice, opened["custodian"])
    assert len(digits) == opened["digits_per_slot"] and set(digits) <= {0, 1, 2, 3}
    # The same owner may ask again (a crashed client): the same digits under a new key.
    key2 = BoxKey()
    again = (await custodian.post("/rounds/1/mask", json=_mask_request(who=alice, key=key2, nonce=2))).json()
    assert _open(again, key2, alice, opened["custodian"]) == digits
    # Bob showing Alice's reservation and grant, a grant not signed by the operator, and a grant of
    # Alice's slot to Bob (the operator granting twice) are all refused; the last is kept as evidence.
    cases = [_mask_request(who=bob, grant_to=alice, nonce=3), _mask_request(who=bob, granted_by=bob, nonce=4),
             _mask_request(who=bob, nonce=5)]
    for body in cases:
        response = await custodian.post("/rounds/1/mask", json=body)
        assert response.status_code == 403 and response.json()["error"]["code"] == "policy_violation", response.text
    evidence = (await custodian.get("/log/evidence")).json()
    assert [(e["round_id"], e["slot"]) for e in evidence] == [(1, 0)]
    assert evidence[0]["first"]["message"]["account"] == alice.address
    assert evidence[0]["second"]["message"]["account"] == bob.address
    # A replayed request (same nonce) is refused.
    replay = await custodian.post("/rounds/1/mask", json=_mask_request(who=alice, nonce=2))
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed_message"
