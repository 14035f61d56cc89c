"""Operations (issue 16, deliverable 8): readiness, Prometheus metrics, structured logs without order fields."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.web.observability import JsonFormatter
from tests.operator.helpers import ADMIN, ORDERS, Clock, commit_reveal_round, fund, identities, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_metrics_and_readiness_when_a_round_clears_then_counted_and_logged_without_order_fields(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    app = create_operator_app(settings(tmp_path), clock=clock)
    transport = httpx.ASGITransport(app=app)
    people = identities()
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    http = httpx.AsyncClient(transport=transport, base_url="http://op")
    assert (await http.get("/ready")).json()["ready"] is True
    caplog.set_level(logging.INFO, logger="darkpool")
    await fund(admin, people)
    await commit_reveal_round(admin, clients, clock)
    text = (await http.get("/metrics")).text
    assert 'darkpool_requests_total{method="POST",route="/rounds/{round_id}/commitments",status="202"} 3.0' in text
    assert "darkpool_round_seconds_count" in text and "darkpool_journal_seq" in text
    cleared = [r for r in caplog.records if r.getMessage() == "round cleared"]
    assert cleared and cleared[0].__dict__["round"] == 1
    line = json.loads(JsonFormatter().format(cleared[0]))
    assert line["round"] == 1 and line["level"] == "info"
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for _, limit, quantity in ORDERS:  # no order field of any order reaches the logs
        assert str(limit) not in logged and f'"quantity_lots":{quantity}' not in logged
    app.state.core.journal.close()
    response = await http.get("/ready")
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
    await http.aclose()
