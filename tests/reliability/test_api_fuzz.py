"""Schemathesis against the operator's, the custodian's and the verifier's OpenAPI schemas (issue 16, deliverable 5).

A few cases per operation in the default run; at least 1,000 per operation under ``slow``. No 5xx,
every status documented, every body as documented, errors in the project's format.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from darkpool.custodian import create_custodian_app
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.verifier import create_verifier_app
from darkpool.web.settings import CustodianSettings, VerifierSettings
from tests.operator.helpers import ADMIN, VAULT, Clock, deposited_world
from tests.reliability.fuzzing import fuzz_app

CUSTODIAN_TOKEN = "custodian-fuzz-token"
FAST, SLOW = 4, 500
"""Cases per operation and generation mode (schema-valid, schema-invalid): 8 and 1,000 in all."""


def operator_app(tmp_path: Path) -> FastAPI:
    """An operator settling on an in-process chain, funded, marked and with a round open."""
    chain, _, _, settings = deposited_world(tmp_path / "journal.db")
    settings = settings.model_copy(update={"rate_per_s": 10**6, "rate_burst": 10**6})
    app = create_operator_app(settings, chain=chain)

    async def seed() -> None:
        admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))
        await admin.admin("POST", "/admin/deposits/sync")
        await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                              "reference_ticks": 300_000, "band_low_ticks": 299_996, "levels": 8})

    asyncio.run(seed())
    return app


def custodian_app(tmp_path: Path) -> FastAPI:
    settings = CustodianSettings(vault=VAULT, operator_token=CUSTODIAN_TOKEN, log=str(tmp_path / "log.jsonl"),
                                 key_dir=str(tmp_path / "keys"), simulate=True, shapes="",
                                 cache_dir=str(tmp_path.parent / "fhe-cache"), verifier_quorum=0)
    app: FastAPI = create_custodian_app(settings, clock=Clock())
    return app


def verifier_app(tmp_path: Path) -> FastAPI:
    settings = VerifierSettings(vault=VAULT, operator_token=CUSTODIAN_TOKEN, key_dir=str(tmp_path / "verifier-keys"),
                                simulate=True, cache_dir=str(tmp_path.parent / "fhe-cache"),
                                custodian_url="http://127.0.0.1:9")
    app: FastAPI = create_verifier_app(settings)
    return app


def _fuzz(app: FastAPI, token: str, examples: int) -> None:
    report = fuzz_app(app, examples=examples, token=token)
    assert not report.failures, report.summary()
    for label, n in report.cases.items():
        assert n >= examples or label in report.exhausted, (label, n)
    if examples >= SLOW:
        short = {label: n for label, n in report.cases.items() if n < 2 * examples and label not in report.exhausted}
        assert not short, short


def _close(app: Any) -> None:
    core = app.state.core
    journal = getattr(core, "journal", None)
    if journal is not None:
        journal.close()


@pytest.mark.xdist_group("fuzz-operator")
def test_operator_schema_when_fuzzed_then_no_5xx_every_status_documented_errors_in_format(tmp_path: Path) -> None:
    app = operator_app(tmp_path)
    _fuzz(app, ADMIN, FAST)
    _close(app)


def test_custodian_schema_when_fuzzed_then_no_5xx_every_status_documented_errors_in_format(tmp_path: Path) -> None:
    _fuzz(custodian_app(tmp_path), CUSTODIAN_TOKEN, FAST)


@pytest.mark.slow
def test_operator_schema_when_fuzzed_a_thousand_times_per_operation_then_holds(tmp_path: Path) -> None:
    app = operator_app(tmp_path)
    _fuzz(app, ADMIN, SLOW)
    _close(app)


@pytest.mark.slow
def test_custodian_schema_when_fuzzed_a_thousand_times_per_operation_then_holds(tmp_path: Path) -> None:
    _fuzz(custodian_app(tmp_path), CUSTODIAN_TOKEN, SLOW)


def test_verifier_schema_when_fuzzed_then_no_5xx_every_status_documented_errors_in_format(tmp_path: Path) -> None:
    _fuzz(verifier_app(tmp_path), CUSTODIAN_TOKEN, FAST)


@pytest.mark.slow
def test_verifier_schema_when_fuzzed_a_thousand_times_per_operation_then_holds(tmp_path: Path) -> None:
    _fuzz(verifier_app(tmp_path), CUSTODIAN_TOKEN, SLOW)
