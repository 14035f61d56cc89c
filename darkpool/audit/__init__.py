"""The auditor: check the operator's commitments from public data (DESIGN.md §1, issue 7 item 4).

:func:`run_audit` reads the operator's journal, batches and published rounds, the chain's events
and the custodian's log, runs every check of :mod:`darkpool.audit._checks`, and returns an
:class:`AuditReport`; it can also write the report as JSON and the rounds' curves as a PNG.

The auditor is independent of the operator: it imports nothing private from the operator or the
SDK, reads the chain through :mod:`darkpool.settlement`'s public API, and recomputes every leaf,
tree and commitment with its own code (:mod:`darkpool.audit._recompute`, eth-abi and a small
Merkle root of its own), so a bug in the operator's trees is caught rather than repeated.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from darkpool.audit._checks import ALL_CHECKS, Check
from darkpool.audit._data import (
    AuditData,
    ChainView,
    fetch_chain,
    fetch_custodian_log,
    fetch_feed_rounds,
    fetch_operator,
)
from darkpool.audit._report import AuditReport, plot_curves

__all__ = ["AuditData", "AuditReport", "ChainView", "Check", "audit_data", "run_audit"]


def audit_data(data: AuditData) -> AuditReport:
    """Run every check on already-fetched data."""
    return AuditReport(tuple(check(data) for check in ALL_CHECKS))


def run_audit(
    operator: str | httpx.Client,
    *,
    w3: Any = None,
    rpc_url: str | None = None,
    vault: str | None = None,
    custodian: str | httpx.Client | None = None,
    json_path: str | Path | None = None,
    png_path: str | Path | None = None,
    auditor_token: str | None = None,
) -> AuditReport:
    """Audit an operator (URL or client), with the chain (``w3`` or ``rpc_url``, and ``vault``) and custodian.

    With the auditors' ``auditor_token`` the operator shows private journal entries and batch
    leaves, and every check runs in full; without it the audit is the public's: the whole journal
    chain (private entries by digest), roots against the chain, FHE rounds' aggregates, the
    commit-reveal rounds' replays and the custodian's log.
    """
    owned: list[httpx.Client] = []
    if auditor_token and not isinstance(operator, httpx.Client):
        operator = httpx.Client(base_url=operator, timeout=60, headers={"Authorization": f"Bearer {auditor_token}"})
        owned.append(operator)
    try:
        return _run(operator, w3, rpc_url, vault, custodian, json_path, png_path, owned)
    finally:
        for client in owned:
            client.close()


def _run(operator: str | httpx.Client, w3: Any, rpc_url: str | None, vault: str | None,
         custodian: str | httpx.Client | None, json_path: str | Path | None, png_path: str | Path | None,
         owned: list[httpx.Client]) -> AuditReport:
    op_http = operator if isinstance(operator, httpx.Client) else httpx.Client(base_url=operator, timeout=60)
    if op_http is not operator:
        owned.append(op_http)
    data = fetch_operator(op_http)
    if vault is None:
        info = op_http.get("/info").json()
        vault = str(info["verifying_contract"])
        if custodian is None and info.get("custodian_url"):
            custodian = str(info["custodian_url"])
    if w3 is None and rpc_url is not None:
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(rpc_url))
    if w3 is not None:
        data.chain = replace(fetch_chain(w3, vault), feed_rounds=fetch_feed_rounds(w3, data.journal))
    if custodian is not None:
        cu_http = custodian if isinstance(custodian, httpx.Client) else httpx.Client(base_url=custodian, timeout=60)
        if cu_http is not custodian:
            owned.append(cu_http)
        data.custodian_log = fetch_custodian_log(cu_http)
    report = audit_data(data)
    if json_path is not None:
        report.write_json(json_path)
    if png_path is not None:
        plot_curves(data.rounds, png_path)
    return report
