"""``darkpool audit``: run the audit, print it, write JSON and PNG, return the exit status."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from darkpool.audit import run_audit
from darkpool.crypto.sealing import read_secret

__all__ = ["audit_command"]


def audit_command(operator_url: str, *, rpc_url: str | None = None, vault: str | None = None,
                  custodian_url: str | None = None, json_path: str | Path | None = "audit.json",
                  png_path: str | Path | None = "audit-curves.png", console: Console | None = None) -> int:
    """Audit and print the report; return 0 when every applicable check passed, else 1.

    A designated auditor's token comes from ``DARKPOOL_AUDITOR_TOKEN`` or the 0600 file named by
    ``DARKPOOL_AUDITOR_TOKEN_FILE`` (never the command line); without one the audit is the public's.
    """
    out = console or Console()
    token = os.environ.get("DARKPOOL_AUDITOR_TOKEN") or None
    if token is None and os.environ.get("DARKPOOL_AUDITOR_TOKEN_FILE"):
        token = read_secret(Path(os.environ["DARKPOOL_AUDITOR_TOKEN_FILE"]))
    report = run_audit(operator_url, rpc_url=rpc_url, vault=vault, custodian=custodian_url, json_path=json_path,
                       png_path=png_path, auditor_token=token)
    report.render(out)
    if json_path is not None:
        out.print(f"JSON report: {json_path}")
    if png_path is not None:
        out.print(f"demand/supply curves: {png_path}")
    return 0 if report.ok else 1
