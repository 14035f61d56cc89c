"""Operations (issue 16, deliverable 8): liveness, readiness, Prometheus metrics, structured logs without order fields.

Every service (operator, custodian, verifier) answers ``GET /health`` while it runs, ``GET /ready``
with 200 only while it can serve (503 in the project's error format otherwise: a closed journal, a
halted custodian, a SIGTERM's drain) and ``GET /metrics`` from a registry of its own.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from darkpool.custodian import create_custodian_app
from darkpool.ledger import Journal
from darkpool.ledger._chain import JournalEntry
from darkpool.ledger._store import SqliteStore
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.verifier import create_verifier_app
from darkpool.web.observability import JsonFormatter
from darkpool.web.serve import DrainingServer
from darkpool.web.settings import CustodianSettings, VerifierSettings
from tests.operator.helpers import ADMIN, ORDERS, VAULT, Clock, commit_reveal_round, fund, identities, settings

pytestmark = pytest.mark.anyio
TOKEN = "operations-test-token"
ORDER_FIELDS = {"side", "limit", "limit_ticks", "quantity", "quantity_lots", "digits", "masked_digits",
                "digits_salt", "salt", "cap", "caps"}
"""Names no log field and no metric label may carry: what an order says, and what opens it."""
LABELS = {"route", "method", "status", "mode", "le"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _custodian(tmp_path: Path) -> FastAPI:
    app: FastAPI = create_custodian_app(CustodianSettings(
        vault=VAULT, operator_token=TOKEN, log=str(tmp_path / "log.jsonl"), key_dir=str(tmp_path / "keys"),
        simulate=True, shapes="", cache_dir=str(tmp_path.parent / "fhe-cache"), verifier_quorum=0), clock=Clock())
    return app


def _verifier(tmp_path: Path) -> FastAPI:
    app: FastAPI = create_verifier_app(VerifierSettings(
        vault=VAULT, operator_token=TOKEN, key_dir=str(tmp_path / "verifier-keys"), simulate=True,
        cache_dir=str(tmp_path.parent / "fhe-cache"), custodian_url="http://127.0.0.1:9"))
    return app


def _http(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def _value(text: str, name: str, **labels: str) -> float | None:
    return next((v for n, given, v in _samples(text) if n == name and given == labels), None)


async def _cleared_round(tmp_path: Path) -> tuple[FastAPI, httpx.AsyncClient]:
    """An operator app that has run one commit-reveal round (3 commitments, 3 reveals, cleared)."""
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities()
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    await fund(admin, people)
    await commit_reveal_round(admin, clients, clock)
    return app, httpx.AsyncClient(transport=transport, base_url="http://op")


async def test_metrics_when_a_round_clears_then_requests_counted_and_timed_by_route_template(tmp_path: Path) -> None:
    app, http = await _cleared_round(tmp_path)
    response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/rounds/{round_id}/commitments"
    assert _value(text, "darkpool_requests_total", route=route, method="POST", status="202") == 3
    assert _value(text, "darkpool_request_seconds_count", route=route, method="POST") == 3
    assert _value(text, "darkpool_request_seconds_bucket", route=route, method="POST", le="+Inf") == 3
    assert _value(text, "darkpool_round_seconds_count", mode="commit_reveal") == 1
    assert _value(text, "darkpool_journal_seq") == app.state.core.journal.seq
    assert _value(text, "darkpool_journal_lag_entries") is not None
    assert not any("/rounds/1/" in labels.get("route", "") for _, labels, _ in _samples(text))  # templates only
    app.state.core.journal.close()
    await http.aclose()


async def test_metrics_when_scraped_then_no_label_names_or_carries_an_order_field(tmp_path: Path) -> None:
    app, http = await _cleared_round(tmp_path)
    samples = _samples((await http.get("/metrics")).text)
    assert {name for _, labels, _ in samples for name in labels} <= LABELS
    values = {value for _, labels, _ in samples for value in labels.values()}
    for side, limit, quantity in ORDERS:
        assert not {str(limit), str(quantity), side.value} & values
    app.state.core.journal.close()
    await http.aclose()


async def test_logs_when_a_round_clears_then_json_with_round_and_account_and_no_order_field(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="darkpool")
    app, http = await _cleared_round(tmp_path)
    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records]
    cleared = [line for line in lines if line["message"] == "round cleared"]
    assert cleared and cleared[0]["round"] == 1 and cleared[0]["level"] == "info"
    people = {who.address.lower() for who in identities()}
    assert people <= {str(line.get("account", "")).lower() for line in lines}
    for line in lines:
        assert not ORDER_FIELDS & set(line), line
        text = json.dumps({k: v for k, v in line.items() if k != "ts"})
        for _, limit, quantity in ORDERS:
            assert str(limit) not in text and f'"quantity_lots": {quantity}' not in text, line
    app.state.core.journal.close()
    await http.aclose()


async def test_ready_when_operator_journal_open_then_200_and_when_closed_then_503(tmp_path: Path) -> None:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    async with _http(app) as http:
        response = await http.get("/ready")
        assert response.status_code == 200
        assert response.json() == {"ready": True, "checks": {"journal": True, "state": True, "accepting": True}}
        app.state.core.journal.close()
        response = await http.get("/ready")
        assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
        assert "journal" in response.json()["error"]["message"]
        health = await http.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_ready_when_operator_gets_sigterm_then_draining_503_while_still_alive(tmp_path: Path) -> None:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    server = DrainingServer(uvicorn.Config(app))
    async with _http(app) as http:
        assert (await http.get("/ready")).status_code == 200
        server.handle_exit(signal.SIGTERM, None)  # what the signal handler runs; the server itself is not started
        assert server.should_exit
        response = await http.get("/ready")
        assert response.status_code == 503
        assert response.json()["error"] == {"code": "service_unavailable",
                                            "message": "not ready; failing checks: accepting"}
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": "operator", "journal_seq": 0,
                                 "journal_head": "0x" + app.state.core.journal.head.hex()}
    app.state.core.journal.close()


@pytest.mark.fhe
async def test_ready_when_custodian_fresh_then_200_and_when_halted_after_void_round_then_503(tmp_path: Path) -> None:
    async with _http(_custodian(tmp_path / "fresh")) as http:
        response = await http.get("/ready")
        assert response.status_code == 200 and response.json()["checks"] == {"decrypting": True, "accepting": True}
    from fhe.log import DecryptionLog

    (tmp_path / "halted").mkdir()
    DecryptionLog(tmp_path / "halted" / "log.jsonl").append("7", "00" * 32, None)  # a void round, durable
    async with _http(_custodian(tmp_path / "halted")) as http:
        response = await http.get("/ready")
        assert response.status_code == 503
        assert response.json()["error"] == {"code": "service_unavailable",
                                            "message": "not ready; failing checks: decrypting"}
        health = await http.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok", "service": "custodian"}
        text = (await http.get("/metrics")).text
        assert _value(text, "darkpool_custodian_halted") == 1 and _value(text, "darkpool_custodian_void_rounds") == 1
        assert _value(text, "darkpool_requests_total", route="/ready", method="GET", status="503") == 1


@pytest.mark.fhe
async def test_verifier_when_probed_then_alive_ready_and_counted_until_draining(tmp_path: Path) -> None:
    app = _verifier(tmp_path)
    async with _http(app) as http:
        assert (await http.get("/health")).json() == {"status": "ok", "service": "verifier"}
        assert (await http.get("/ready")).json() == {"ready": True, "checks": {"accepting": True}}
        assert (await http.post("/rounds/1/evaluate", json={})).status_code == 401
        text = (await http.get("/metrics")).text
        assert _value(text, "darkpool_requests_total", route="/rounds/{round_id}/evaluate", method="POST",
                      status="401") == 1
        DrainingServer(uvicorn.Config(app)).handle_exit(signal.SIGTERM, None)
        assert (await http.get("/ready")).status_code == 503


@pytest.mark.fhe
def test_openapi_when_read_then_operations_endpoints_and_their_statuses_documented(tmp_path: Path) -> None:
    operator = create_operator_app(settings(tmp_path), clock=Clock())
    for app in (operator, _custodian(tmp_path), _verifier(tmp_path)):
        paths = app.openapi()["paths"]
        assert "200" in paths["/health"]["get"]["responses"]
        ready = paths["/ready"]["get"]["responses"]
        assert {"200", "503"} <= set(ready) and "draining" in ready["503"]["description"]
        assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    operator.state.core.journal.close()


class _GatedStore(SqliteStore):
    """A SQLite journal store whose writes wait for a gate: entries stay in flight until it opens."""

    def __init__(self, path: Path, gate: threading.Event) -> None:
        super().__init__(path)
        self.gate = gate

    def write(self, entries: Sequence[JournalEntry]) -> None:
        assert self.gate.wait(10)
        super().write(entries)


@pytest.fixture
def gated_journal(tmp_path: Path) -> Iterator[tuple[Journal, threading.Event]]:
    gate = threading.Event()
    journal = Journal(_GatedStore(tmp_path / "journal.db", gate))
    yield journal, gate
    gate.set()
    journal.close()


def test_journal_lag_when_a_batch_is_being_written_then_counted_until_durable(
        gated_journal: tuple[Journal, threading.Event]) -> None:
    journal, gate = gated_journal
    appended: list[Any] = [journal.append("note", {"n": n}) for n in range(3)]
    assert journal.lag == 3  # queued or in the writer's hands: none is durable yet
    gate.set()
    for one in appended:
        one.wait()
    assert journal.lag == 0 and journal.seq == 3


@pytest.mark.fhe
def test_metrics_when_an_fhe_round_clears_then_evaluation_time_bootstraps_and_each_service_counted(
        tmp_path: Path) -> None:
    from tests.operator.fhe_helpers import fhe_world, run_fhe_round

    with fhe_world(tmp_path, simulate=True) as world:
        rid = run_fhe_round(world)["round_id"]
        text = httpx.get(world.operator_url + "/metrics").text
        info = world.operator_app.state.core.get_round(rid).info
        bootstraps = world.operator_app.state.core.fhe_backend.bootstraps(info.slots, info.levels,
                                                                          info.quantity_digits)
        assert bootstraps > 0
        assert _value(text, "darkpool_fhe_round_bootstraps_count") == 1
        assert _value(text, "darkpool_fhe_round_bootstraps_sum") == bootstraps
        assert _value(text, "darkpool_fhe_evaluation_seconds_count") == 1
        assert _value(text, "darkpool_round_seconds_count", mode="fhe") == 1
        custodian = httpx.get(world.custodian_url + "/metrics").text
        assert _value(custodian, "darkpool_custodian_decryptions") == 1
        assert _value(custodian, "darkpool_custodian_halted") == 0
        assert _value(custodian, "darkpool_requests_total", route="/rounds/{round_id}/decrypt", method="POST",
                      status="200") == 1
        verifier = httpx.get(world.verifier_url + "/metrics").text
        assert _value(verifier, "darkpool_requests_total", route="/rounds/{round_id}/evaluate", method="POST",
                      status="200") == 1
        for url in (world.operator_url, world.custodian_url, world.verifier_url):
            assert httpx.get(url + "/ready").status_code == 200
            samples = _samples(httpx.get(url + "/metrics").text)
            assert {name for _, labels, _ in samples for name in labels} <= LABELS
