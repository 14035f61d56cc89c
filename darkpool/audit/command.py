"""``darkpool audit``: run the audit, print it, write JSON and PNG, return the exit status."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from darkpool.audit import run_audit
from darkpool.crypto.sealing import read_secret

__all__ = ["audit_command", "auditor_token", "watch_command"]


def auditor_token() -> str | None:
    """The auditors' token from ``DARKPOOL_AUDITOR_TOKEN`` or the 0600 file ``DARKPOOL_AUDITOR_TOKEN_FILE``."""
    token = os.environ.get("DARKPOOL_AUDITOR_TOKEN") or None
    if token is None and os.environ.get("DARKPOOL_AUDITOR_TOKEN_FILE"):
        token = read_secret(Path(os.environ["DARKPOOL_AUDITOR_TOKEN_FILE"]))
    return token


def audit_command(operator_url: str, *, rpc_url: str | None = None, vault: str | None = None,
                  custodian_url: str | None = None, json_path: str | Path | None = "audit.json",
                  png_path: str | Path | None = "audit-curves.png", console: Console | None = None) -> int:
    """Audit and print the report; return 0 when every applicable check passed, else 1.

    A designated auditor's token comes from ``DARKPOOL_AUDITOR_TOKEN`` or the 0600 file named by
    ``DARKPOOL_AUDITOR_TOKEN_FILE`` (never the command line); without one the audit is the public's.
    """
    out = console or Console()
    token = auditor_token()
    report = run_audit(operator_url, rpc_url=rpc_url, vault=vault, custodian=custodian_url, json_path=json_path,
                       png_path=png_path, auditor_token=token)
    report.render(out)
    if json_path is not None:
        out.print(f"JSON report: {json_path}")
    if png_path is not None:
        out.print(f"demand/supply curves: {png_path}")
    return 0 if report.ok else 1


def watch_command(rpc_url: str, *, operator_url: str | None = None, vault: str | None = None,
                  key_file: Path | None = None, poll_s: float = 2.0, margin_s: int = 60,
                  max_polls: int | None = None) -> int:
    """Follow the vault and veto every batch that fails the audit inside its window; print JSON lines.

    The auditor key comes from ``key_file``, ``DARKPOOL_AUDITOR_KEY_FILE`` or ``DARKPOOL_AUDITOR_KEY``;
    the auditors' token (for batch leaves) as for ``darkpool audit run``.
    """
    import json
    import sys

    import httpx

    from darkpool.audit.watch import BatchWatcher, WatchEvent, connect, load_auditor_key, operator_audit, watch
    from darkpool.errors import ValidationError

    key = load_auditor_key(key_file)
    if vault is None:
        if operator_url is None:
            raise ValidationError("give --vault, or --operator to read the vault's address from")
        vault = str(httpx.get(f"{operator_url.rstrip('/')}/info", timeout=30).json()["verifying_contract"])
    contract = connect(rpc_url, vault)
    if not contract.is_auditor(key.address):
        raise ValidationError(f"{key.address} is not a registered auditor of vault {contract.address}")
    audit = operator_audit(operator_url, contract.chain.w3, contract.address, auditor_token())
    watcher = BatchWatcher(contract, key, audit, margin_s=margin_s)

    def show(event: WatchEvent) -> None:
        sys.stdout.write(json.dumps({"batch_id": event.batch_id, "action": event.action, "detail": event.detail,
                                     "tx": event.tx}) + "\n")
        sys.stdout.flush()

    show(WatchEvent(contract.last_batch_id(), "watching", f"auditor {key.address} on vault {contract.address}"))
    return watch(watcher, poll_s=poll_s, on_event=show, max_polls=max_polls)
