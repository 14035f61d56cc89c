"""``darkpool audit watch``: follow the vault, audit every new batch inside its challenge window, veto a bad one.

A batch committed on chain becomes final once its challenge window passes unless k of the vault's
n registered auditors veto it. The watcher is one of those auditors: for each batch still inside
its window it fetches the operator's published data (journal, batches with their leaves when it
holds the auditors' token, rounds, the custodian's log), runs every check of :mod:`darkpool.audit`,
and sends its veto, signed with its auditor key, when one fails. A batch it cannot check — the
operator does not answer, or publishes nothing for it — is vetoed once less than ``margin_s`` of
its window is left: an auditor vouches only for what it recomputed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account as _EthAccount

from darkpool.audit._checks import Check
from darkpool.audit._data import AuditData, fetch_chain, fetch_custodian_log, fetch_operator
from darkpool.audit._report import AuditReport
from darkpool.crypto.sealing import read_secret
from darkpool.errors import DarkPoolError, TransactionReverted, ValidationError
from darkpool.settlement import Chain, Vault

__all__ = ["AuditorKey", "BatchWatcher", "WatchEvent", "load_auditor_key", "operator_audit", "watch"]

KEY_ENV = "DARKPOOL_AUDITOR_KEY"
KEY_FILE_ENV = "DARKPOOL_AUDITOR_KEY_FILE"


@dataclass(frozen=True)
class AuditorKey:
    """The auditor's signing key (a :class:`darkpool.settlement.Signer`): it signs veto transactions."""

    private_key: bytes = field(repr=False)
    address: str

    @classmethod
    def from_hex(cls, text: str) -> AuditorKey:
        raw = text.strip().removeprefix("0x")
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            raise ValidationError("an auditor key is 32 bytes of hex") from None
        if len(key) != 32:
            raise ValidationError(f"an auditor key is 32 bytes, got {len(key)}")
        return cls(key, str(_EthAccount.from_key(key).address).lower())


def load_auditor_key(path: Path | None = None) -> AuditorKey:
    """Read the auditor key from ``path`` (a 0600 file), ``$DARKPOOL_AUDITOR_KEY_FILE`` or ``$DARKPOOL_AUDITOR_KEY``."""
    if path is None and os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV])
    if path is not None:
        return AuditorKey.from_hex(read_secret(path))
    if os.environ.get(KEY_ENV):
        return AuditorKey.from_hex(os.environ[KEY_ENV])
    raise ValidationError(f"no auditor key: pass --key-file, or set {KEY_FILE_ENV} or {KEY_ENV}")


@dataclass(frozen=True)
class WatchEvent:
    """What the watcher did about one batch: ``passed``, ``waiting``, ``vetoed``, ``missed`` or ``frozen``."""

    batch_id: int
    action: str
    detail: str
    tx: str | None = None


Audit = Callable[[int], AuditReport]
"""Audit the operator's state as of the chain's batch ``last_batch_id``; raise when the data cannot be had."""


def operator_audit(operator: str | httpx.Client | None, w3: Any, vault: str,
                   auditor_token: str | None = None) -> Audit:
    """Return an :data:`Audit` that fetches the operator's data and the chain's and runs every check."""
    from darkpool.audit import audit_data

    def audit(last_batch_id: int) -> AuditReport:
        if operator is None:
            return AuditReport((Check("batch published by the operator", False,
                                      "no operator to read the batch from: nothing to recompute"),))
        headers = {"Authorization": f"Bearer {auditor_token}"} if auditor_token else {}
        owned = not isinstance(operator, httpx.Client)
        http = operator if isinstance(operator, httpx.Client) else httpx.Client(base_url=operator, timeout=30,
                                                                                 headers=headers)
        try:
            data = fetch_operator(http)  # before the chain: the operator journals a batch before posting it
            custodian = (data.domain or {}).get("custodian_url")
            if custodian:
                with httpx.Client(base_url=str(custodian), timeout=30) as cu:
                    data.custodian_log = fetch_custodian_log(cu)
        finally:
            if owned:
                http.close()
        data.chain = fetch_chain(w3, vault)
        return audit_data(_as_of(data, last_batch_id))

    return audit


def _as_of(data: AuditData, last_batch_id: int) -> AuditData:
    """Keep the published batches the chain already has (one journaled but still being posted is not a fault)."""
    on_chain = max([b["batch_id"] for b in data.chain.batches] if data.chain else [last_batch_id])
    data.batches = [b for b in data.batches if b["batch_id"] <= on_chain]
    return data


class BatchWatcher:
    """Audit each batch of ``vault`` inside its challenge window; veto it as ``auditor`` when a check fails."""

    def __init__(self, vault: Vault, auditor: AuditorKey, audit: Audit, *, margin_s: int = 0) -> None:
        self.vault = vault
        self.auditor = auditor
        self.audit = audit
        self.margin_s = margin_s
        self.judged: dict[int, str] = {}

    def _now(self) -> int:
        return int(self.vault.chain.w3.eth.get_block("latest")["timestamp"])

    def _pending(self) -> Iterator[tuple[int, int]]:
        """Yield ``(batch_id, final_at)`` of each batch not yet judged, inside its window."""
        now = self._now()
        for committed in self.vault.committed_batches():
            batch_id = committed.batch_id
            if batch_id in self.judged:
                continue
            state = self.vault.batch(batch_id)
            if state.is_final or state.vetoed or now >= state.final_at:
                self.judged[batch_id] = "closed"
                continue
            yield batch_id, state.final_at

    def poll(self) -> list[WatchEvent]:
        """Check every pending batch once; return what was done."""
        if self.vault.is_frozen():
            return [WatchEvent(self.vault.last_batch_id(), "frozen", "the vault is frozen: nothing left to watch")]
        pending = list(self._pending())
        if not pending:
            return []
        report: AuditReport | None = None
        try:
            report = self.audit(max(b for b, _ in pending))
            problem = "; ".join(f"{c.name}: {c.detail}" for c in report.failures) if not report.ok else ""
        except (DarkPoolError, httpx.HTTPError, OSError, KeyError, TypeError, ValueError) as exc:
            report, problem = None, f"cannot audit: {exc}"
        events = []
        now = self._now()
        for batch_id, final_at in pending:
            if report is not None and report.ok:
                self.judged[batch_id] = "passed"
                events.append(WatchEvent(batch_id, "passed", f"{len(report.checks)} checks ran, none failed"))
            elif report is None and final_at - now > self.margin_s:
                events.append(WatchEvent(batch_id, "waiting", f"{problem}; vetoing if still so {self.margin_s} s "
                                                              f"before the window ends at {final_at}"))
            else:
                events.append(self._veto(batch_id, problem or "the audit passed no check"))
                if self.vault.is_frozen():
                    break
        return events

    def _veto(self, batch_id: int, why: str) -> WatchEvent:
        try:
            tx = self.vault.veto(self.auditor, batch_id)
        except TransactionReverted as exc:
            self.judged[batch_id] = "missed"
            return WatchEvent(batch_id, "missed", f"veto refused ({exc}); it was for: {why}")
        self.judged[batch_id] = "vetoed"
        return WatchEvent(batch_id, "vetoed", why, tx.tx_hash)


def watch(watcher: BatchWatcher, *, poll_s: float = 2.0, on_event: Callable[[WatchEvent], None] = print,
          max_polls: int | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Poll until the vault freezes (return 0) or ``max_polls`` polls are done (return 0)."""
    polls = 0
    while max_polls is None or polls < max_polls:
        polls += 1
        for event in watcher.poll():
            on_event(event)
            if event.action == "frozen":
                return 0
        sleep(poll_s)
    return 0


def connect(rpc_url: str, vault_address: str) -> Vault:
    """Return the vault at ``vault_address`` on the JSON-RPC node at ``rpc_url``."""
    from darkpool.settlement import RpcChain

    chain: Chain = RpcChain(rpc_url)
    return Vault(chain, vault_address)
