"""Audit a real operator over loopback sockets on py-evm, then show each check catches tampering."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from darkpool.audit import AuditData, audit_data, run_audit
from darkpool.audit._data import fetch_chain, fetch_operator
from darkpool.ledger import JournalEntry
from darkpool.operator import create_operator_app
from darkpool.sdk import DarkPoolClient
from darkpool.web.serve import ServerThread
from tests.operator.helpers import ADMIN, ORDERS, Clock, deposited_world

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("audit")
    chain, d, people, settings = deposited_world(tmp / "j.db")
    clock = Clock()
    app = create_operator_app(settings, chain=chain, clock=clock)
    with ServerThread(app) as server:
        admin = DarkPoolClient(server.url, admin_token=ADMIN)
        clients = [DarkPoolClient(server.url, who) for who in people]
        admin.admin("POST", "/admin/deposits/sync")
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        rid = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                              "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                              "levels": 8})["round_id"]
        tickets = [c.commit_order(rid, "ETH-PERP", s, lim, q, bond=10) for c, (s, lim, q) in zip(clients, ORDERS,
                                                                                                  strict=True)]
        schedule = admin.admin("GET", f"/rounds/{rid}")
        clock.now = schedule["commit_closes_at"]
        admin.admin("POST", f"/rounds/{rid}/seal")
        for c, t in zip(clients[:2], tickets[:2], strict=True):
            c.reveal(t)
        clock.now = schedule["reveal_closes_at"]
        admin.admin("POST", f"/rounds/{rid}/clear")
        clients[0].withdraw(10**6)
        admin.admin("POST", "/batches")
        yield {"url": server.url, "chain": chain, "vault": d.vault, "tmp": tmp, "clients": clients}


def test_run_audit_when_operator_honest_passes_and_writes_json_and_png(world: dict[str, Any]) -> None:
    report = run_audit(world["url"], w3=world["chain"].w3, json_path=world["tmp"] / "audit.json",
                       png_path=world["tmp"] / "curves.png")
    assert report.ok, report.to_json_dict()
    assert json.loads((world["tmp"] / "audit.json").read_text())["ok"] is True
    assert (world["tmp"] / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert world["clients"][2].fills() == []


def test_public_audit_when_no_token_checks_roots_and_chain_and_sees_no_leaves(world: dict[str, Any]) -> None:
    public = fetch_operator(httpx.Client(base_url=world["url"]))
    assert public.batches and all(b["balances"] is None and b["fills"] is None for b in public.batches)
    assert all(e.is_redacted for e in public.journal if e.kind == "batch")
    report = run_audit(world["url"], w3=world["chain"].w3)
    assert report.ok, report.to_json_dict()
    by_name = {c.name: c for c in report.checks}
    assert by_name["journal hash chain continuous; heads match the chain"].ok is True
    assert by_name["batch roots recompute and match the chain"].ok is True
    assert by_name["committed balances <= vault holdings"].ok is None  # needs the auditors' token
    full = run_audit(world["url"], w3=world["chain"].w3, auditor_token=ADMIN)
    no_fhe = {"custodian decrypted exactly once per FHE round", "FHE caps follow the margin rule",
              "perpetual funding follows the journaled prices and nets to zero",
              "expiries settle once at the journaled mark at expiry", "feed marks are the feeds' rounds on chain",
              "FHE liquidations are the margin queue's reduce-only orders"}
    assert full.ok and all(c.ok for c in full.checks if c.name not in no_fhe)


def test_sdk_over_sockets_when_position_read_matches_fill(world: dict[str, Any]) -> None:
    client = world["clients"][0]
    assert client.positions()["ETH-PERP"] == sum(f["quantity_lots"] for f in client.fills())


def _data(world: dict[str, Any]) -> AuditData:
    """What the designated auditors see (their token): private entries and batch leaves included."""
    data = fetch_operator(httpx.Client(base_url=world["url"], headers={"Authorization": f"Bearer {ADMIN}"}))
    data.chain = fetch_chain(world["chain"].w3, world["vault"])
    return data


def _failed(data: AuditData) -> set[str]:
    return {c.name for c in audit_data(data).failures}


def test_audit_when_fill_changed_fails_netting_and_roots(world: dict[str, Any]) -> None:
    data = _data(world)
    data.batches = copy.deepcopy(data.batches)
    data.batches[0]["fills"][0]["quantity_lots"] += 1
    assert {"fills net to zero per instrument and round", "batch roots recompute and match the chain"} <= _failed(data)


def test_audit_when_journal_entry_dropped_fails_chain(world: dict[str, Any]) -> None:
    data = _data(world)
    data.journal = data.journal[:3] + data.journal[4:]
    assert "journal hash chain continuous; heads match the chain" in _failed(data)


def test_audit_when_journal_payload_rewritten_fails_chain(world: dict[str, Any]) -> None:
    data = _data(world)
    e = data.journal[0]
    data.journal[0] = JournalEntry(e.seq, e.kind, e.payload.replace(b"1000", b"9000"), e.head)
    assert "journal hash chain continuous; heads match the chain" in _failed(data)


def test_audit_when_published_result_altered_fails_replay(world: dict[str, Any]) -> None:
    data = _data(world)
    data.rounds = copy.deepcopy(data.rounds)
    data.rounds[0]["result"]["volume_lots"] += 1
    assert "commit-reveal rounds replay to their results" in _failed(data)


def test_audit_when_balances_exceed_vault_fails_solvency(world: dict[str, Any]) -> None:
    data = _data(world)
    data.batches = copy.deepcopy(data.batches)
    first = next(iter(data.batches[-1]["balances"]))
    data.batches[-1]["balances"][first] += 10**15
    assert "committed balances <= vault holdings" in _failed(data)


def test_audit_when_signed_commitment_altered_fails_signatures(world: dict[str, Any]) -> None:
    data = _data(world)
    for i, e in enumerate(data.journal):
        if e.kind == "commits":
            payload = e.data()
            payload["commits"]["bond"][0] += 1  # the bond it signed
            from darkpool.ledger import canonical_json

            data.journal[i] = JournalEntry(e.seq, e.kind, canonical_json(payload), e.head)
            break
    assert "journaled requests are signed by their accounts" in _failed(data)
