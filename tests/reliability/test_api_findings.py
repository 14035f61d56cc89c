"""What Schemathesis found in the operator and the custodian, each pinned by a regression test."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from tests.operator.helpers import ADMIN, Clock, deposited_world, settings
from tests.reliability.test_api_fuzz import CUSTODIAN_TOKEN, custodian_app

pytestmark = pytest.mark.anyio
CUSTODIAN_AUTH = {"Authorization": f"Bearer {CUSTODIAN_TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_body_when_not_json_then_422_malformed_request_as_documented(tmp_path: Path) -> None:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op") as http:
        response = await http.post("/admin/marks", content=b"\xff\xfe{", headers={"content-type": "application/json",
                                                                                   "authorization": f"Bearer {ADMIN}"})
        assert response.status_code == 422, response.text  # Starlette answers 400, which no route documents
        assert response.json()["error"]["code"] == "malformed_request"
        documented = app.openapi()["paths"]["/admin/marks"]["post"]["responses"]
        assert str(response.status_code) in documented
    app.state.core.journal.close()


async def test_method_when_not_allowed_then_allow_names_every_method_of_the_path(tmp_path: Path) -> None:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op") as http:
        for path, methods in (("/rounds", {"GET", "POST"}), ("/batches", {"GET", "POST"})):
            response = await http.request("OPTIONS", path)
            assert response.status_code == 405
            assert set(response.headers["allow"].split(", ")) == methods, response.headers["allow"]
            assert response.json()["error"]["code"] == "http_405"
    app.state.core.journal.close()


async def test_batch_when_operator_has_no_chain_then_409_not_configured_not_5xx(tmp_path: Path) -> None:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op") as http:
        for path in ("/batches", "/admin/deposits/sync"):
            response = await http.post(path, headers={"authorization": f"Bearer {ADMIN}"})
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "not_configured"
    assert (await admin.admin("GET", "/batches")) == []
    app.state.core.journal.close()


@pytest.mark.chain
async def test_admin_deposit_when_not_on_chain_then_refused_and_batches_still_commit(tmp_path: Path) -> None:
    chain, _, people, s = deposited_world(tmp_path / "j.db")
    app = create_operator_app(s, clock=Clock(), chain=chain)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://op") as http:
        auth = {"authorization": f"Bearer {ADMIN}"}
        invented = {"deposit_id": 1, "account": people[0].address, "amount": 10**18}  # more than was deposited
        response = await http.post("/admin/deposits", json=invented, headers=auth)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input", response.text
        fourth = {"deposit_id": 4, "account": people[0].address, "amount": 1}  # the chain holds three
        assert (await http.post("/admin/deposits", json=fourth, headers=auth)).status_code == 422
        real = {"deposit_id": 1, "account": people[0].address, "amount": 10**11}
        assert (await admin.admin("POST", "/admin/deposits", real))["credited"] is True
    assert (await admin.admin("POST", "/admin/deposits/sync"))["credited"] == 2
    batch = await admin.admin("POST", "/batches")
    assert batch["posted"] is True and batch["deposits_credited"] == 3
    app.state.core.journal.close()


@pytest.mark.fhe
async def test_custodian_round_when_shape_not_prepared_then_compiled_on_a_worker_thread(tmp_path: Path) -> None:
    app = custodian_app(tmp_path)
    body = {"round_id": 1, "slots": 1, "levels": 1, "max_quantity": 1, "operator": "0x" + "00" * 20}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cu") as http:
        response = await http.post("/rounds", json=body, headers=CUSTODIAN_AUTH)  # sync route: a worker thread
        assert response.status_code == 200, response.text


async def test_custodian_decrypt_when_digests_not_hex_then_422_not_500(tmp_path: Path) -> None:
    app = custodian_app(tmp_path)
    body = {"circuit_id": "n4-l1-q1", "masks_digest": "g\u00a3}", "inputs_commitment": "\u00c3" * 64,
            "transcript_hash": "\u0087" * 64, "outputs": []}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cu") as http:
        response = await http.post("/rounds/1/decrypt", json=body, headers=CUSTODIAN_AUTH)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "malformed_request"
