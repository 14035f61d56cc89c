"""The custodian's HTTP API: operator-only endpoints, typed schemas, bad input refused with a code and no change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from darkpool.custodian import create_custodian_app
from darkpool.signing import MaskRequest, SigningDomain, signed_to_wire
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
                                 cache_dir=str(tmp_path.parent / "fhe-cache"))
    app: FastAPI = create_custodian_app(settings, clock=Clock())
    return app


@pytest.fixture
async def custodian(custodian_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app = custodian_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://custodian") as http:
        yield http


def _mask_request(round_id: int = 1, slot: int = 0) -> dict[str, Any]:
    who = identities(1)[0]
    message = MaskRequest(account=who.address, round_id=round_id, slot=slot, nonce=1, expiry=NOW + 100)
    return signed_to_wire(who.sign(message, DOMAIN))


DECRYPT = {"circuit_id": "c", "masks_digest": "d", "inputs_commitment": "i", "transcript_hash": "t",
           "outputs": ["AAAA"]}
OPEN = {"round_id": 1, "slots": 4, "levels": 4, "max_quantity": 255}

BAD = [
    ("open without token", "POST", "/rounds", OPEN, {}, 401, "unauthorized"),
    ("open with wrong token", "POST", "/rounds", OPEN, {"Authorization": "Bearer nope"}, 401, "unauthorized"),
    ("open with extra field", "POST", "/rounds", {**OPEN, "extra": 1}, AUTH, 422, "malformed_request"),
    ("open with zero slots", "POST", "/rounds", {**OPEN, "slots": 0}, AUTH, 422, "malformed_request"),
    ("slot without token", "POST", "/rounds/1/slots", {"slot": 0, "account": "0x" + "11" * 20}, {}, 401,
     "unauthorized"),
    ("slot of unopened round", "POST", "/rounds/1/slots", {"slot": 0, "account": "0x" + "11" * 20}, AUTH, 404,
     "not_found"),
    ("slot with bad account", "POST", "/rounds/1/slots", {"slot": 0, "account": "alice"}, AUTH, 422,
     "invalid_input"),
    ("mask for another round", "POST", "/rounds/2/mask", _mask_request(round_id=1), {}, 422, "invalid_input"),
    ("mask of unopened round", "POST", "/rounds/1/mask", _mask_request(), {}, 404, "not_found"),
    ("mask unsigned", "POST", "/rounds/1/mask", {**_mask_request(), "signature": "0x" + "00" * 64 + "1b"}, {}, 401,
     "invalid_signature"),
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
    assert set(spec["paths"]) == {"/rounds", "/rounds/{round_id}/slots", "/rounds/{round_id}/mask",
                                  "/rounds/{round_id}/decrypt", "/keys/{circuit_id}", "/log"}
    schemas = set(spec["components"]["schemas"])
    assert {"OpenRoundRequest", "OpenedRoundView", "SlotOwnerRequest", "SlotAssigned", "SignedEnvelope",
            "MaskView", "DecryptRequest", "DecryptedView", "LogEntryView"} <= schemas
    ok = spec["paths"]["/rounds"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/OpenedRoundView"}


@pytest.mark.fhe
@pytest.mark.parametrize("custodian_app", ["4x4x255"], indirect=True)
async def test_round_when_opened_gives_owner_its_mask_once_and_no_one_else(custodian: httpx.AsyncClient) -> None:
    opened = (await custodian.post("/rounds", json=OPEN, headers=AUTH)).json()
    assert opened["round_id"] == "1" and opened["slots"] == 4 and opened["masks"]
    owner = identities(1)[0].address
    assert (await custodian.post("/rounds/1/slots", json={"slot": 0, "account": owner}, headers=AUTH)).json() == {
        "round_id": 1, "slot": 0}
    taken = await custodian.post("/rounds/1/slots", json={"slot": 0, "account": owner}, headers=AUTH)
    assert taken.status_code == 403 and taken.json()["error"]["code"] == "policy_violation"
    foreign = await custodian.post("/rounds/1/mask", json=_mask_request(slot=1))
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "policy_violation"
    mask = (await custodian.post("/rounds/1/mask", json=_mask_request())).json()
    assert mask["slot"] == 0 and len(mask["digits"]) == opened["digits_per_slot"]
    again = await custodian.post("/rounds/1/mask", json=_mask_request())
    assert again.status_code in {403, 409} and again.json()["error"]["code"] in {"mask_reuse", "replayed_message"}
