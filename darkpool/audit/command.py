"""``darkpool audit``: run the audit, print it, write JSON and PNG, return the exit status."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from darkpool.audit import run_audit

__all__ = ["audit_command"]


def audit_command(operator_url: str, *, rpc_url: str | None = None, vault: str | None = None,
                  custodian_url: str | None = None, json_path: str | Path | None = "audit.json",
                  png_path: str | Path | None = "audit-curves.png", console: Console | None = None) -> int:
    """Audit and print the report; return 0 when every applicable check passed, else 1."""
    out = console or Console()
    report = run_audit(operator_url, rpc_url=rpc_url, vault=vault, custodian=custodian_url, json_path=json_path,
                       png_path=png_path)
    report.render(out)
    if json_path is not None:
        out.print(f"JSON report: {json_path}")
    if png_path is not None:
        out.print(f"demand/supply curves: {png_path}")
    return 0 if report.ok else 1
