"""A dishonest operator commits a balances root that gives it the vault; the watching auditor vetoes it.

Real EVM (py-evm in process, and anvil with ``darkpool audit watch`` run as a command), a real
operator over HTTP: the operator settles an honest batch that becomes final, then commits, as the
vault's operator, a root moving every balance to itself. The auditor's watcher finds that the chain
holds a batch the operator's published books do not give, vetoes it inside its window, the vault
freezes, the operator cannot take anything out, and every institution escapes with its balance in
the last final batch.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from web3.types import Wei

from darkpool.audit.watch import AuditorKey, BatchWatcher, operator_audit
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.errors import TransactionReverted
from darkpool.sdk import DarkPoolClient, Identity
from darkpool.settlement import BALANCE_LEAF, Chain, Vault, anvil_binary, embedded_chain, start_anvil
from darkpool.settlement.deploy import Deployment, deploy, fund_institution
from darkpool.web.serve import ServerThread
from darkpool.web.settings import OperatorSettings
from tests.environment import missing
from tests.operator.helpers import ADMIN, identities

pytestmark = [pytest.mark.attack, pytest.mark.chain]

WINDOW_S = 600
DEPOSITS = (3 * 10**8, 2 * 10**8, 10**8)


@contextmanager
def _world(chain: Chain, tmp_path: Path) -> Iterator[tuple[Deployment, AuditorKey, list[Identity], Any, str]]:
    """Deploy with one auditor (threshold 1), serve an operator, credit three deposits, settle batch 1 final."""
    auditor = AuditorKey.from_hex(secrets.token_hex(32))
    d = deploy(chain, grace_period_s=7 * 24 * 3600, challenge_window_s=WINDOW_S, auditors=[auditor.address])
    w3 = chain.w3
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": d.operator, "to": w3.to_checksum_address(auditor.address), "value": Wei(10**18)}))
    people = identities(3)
    fund_institution(chain, d, [p.address for p in people], 10**12)
    vault = Vault(chain, d.vault)
    for who, amount in zip(people, DEPOSITS, strict=True):
        vault.deposit(who, amount, approve=True)
    token = secrets.token_urlsafe(32)
    settings = OperatorSettings(journal=str(tmp_path / "j.db"), chain_id=d.chain_id, vault=d.vault, token=d.token,
                                operator_address=d.operator, admin_token=ADMIN, auditor_token=token,
                                secrets_dir=str(tmp_path / "secrets"))
    from darkpool.operator import create_operator_app

    with ServerThread(create_operator_app(settings, chain=chain)) as server, \
            DarkPoolClient(server.url, admin_token=ADMIN) as admin:
        assert admin.admin("POST", "/admin/deposits/sync")["credited"] == 3
        assert admin.admin("POST", "/batches")["batch_id"] == 1
        yield d, auditor, people, server, token


def _steal(chain: Chain, d: Deployment) -> None:
    """Commit, as the vault's operator, batch 2 whose balances root gives the operator every token."""
    vault = Vault(chain, d.vault)
    tree = StandardMerkleTree.of([(d.operator.lower(), d.token, sum(DEPOSITS))], BALANCE_LEAF)
    head = "0x" + "66" * 32
    vault.commit_batch(d.operator, 2, tree.root, head, head, head, vault.deposits_credited())
    proof = tree.get_proof(0)
    with pytest.raises(TransactionReverted, match="VaultNotFrozen"):  # escape is closed while it runs...
        vault.escape(d.operator, d.operator, sum(DEPOSITS), proof)


def _everyone_escapes(chain: Chain, d: Deployment, people: list[Identity], server_url: str) -> None:
    vault = Vault(chain, d.vault)
    assert vault.is_frozen() and vault.batch(2).vetoed and not vault.batch(2).is_final
    assert vault.final_batch_id() == 1
    tree = StandardMerkleTree.of([(d.operator.lower(), d.token, sum(DEPOSITS))], BALANCE_LEAF)
    with pytest.raises(TransactionReverted, match="InvalidProof"):  # ...and the stolen root never pays
        vault.escape(d.operator, d.operator, sum(DEPOSITS), tree.get_proof(0))
    for who, amount in zip(people, DEPOSITS, strict=True):
        with DarkPoolClient(server_url, who) as client:
            final = next(b for b in client.proofs() if b["batch_id"] == vault.final_batch_id())
        balance = final["balance"]
        assert balance["amount"] == amount
        before = vault.token().balance_of(who.address)
        vault.escape(who, who.address, balance["amount"], balance["proof"])
        assert vault.token().balance_of(who.address) - before == amount
    assert vault.token().balance_of(vault.address) == 0


def test_stealing_root_when_auditor_watches_then_vetoed_frozen_and_everyone_escapes(tmp_path: Path) -> None:
    chain = embedded_chain()
    with _world(chain, tmp_path) as (d, auditor, people, server, token):
        vault = Vault(chain, d.vault)
        watcher = BatchWatcher(vault, auditor, operator_audit(server.url, chain.w3, d.vault, token), margin_s=60)
        assert [e.action for e in watcher.poll()] == ["passed"]  # the honest batch 1 passes every check
        chain.advance_time(WINDOW_S)
        vault.finalize(people[0], 1)
        _steal(chain, d)
        events = watcher.poll()
        assert [(e.batch_id, e.action) for e in events] == [(2, "vetoed")]
        assert "batch" in events[0].detail
        chain.advance_time(WINDOW_S)
        with pytest.raises(TransactionReverted, match="VaultFrozen"):
            vault.finalize(d.operator, 2)
        assert watcher.poll()[0].action == "frozen"
        _everyone_escapes(chain, d, people, server.url)


def test_watcher_when_operator_silent_then_vetoes_before_window_ends(tmp_path: Path) -> None:
    chain = embedded_chain()
    with _world(chain, tmp_path) as (d, auditor, _people, _server, token):
        vault = Vault(chain, d.vault)
        dead = "http://127.0.0.1:9"  # nothing listens: the batch cannot be checked
        watcher = BatchWatcher(vault, auditor, operator_audit(dead, chain.w3, d.vault, token), margin_s=120)
        (waiting,) = watcher.poll()
        assert waiting.action == "waiting" and not vault.is_frozen()
        chain.advance_time(WINDOW_S - 100)
        (vetoed,) = watcher.poll()
        assert vetoed.action == "vetoed" and vault.is_frozen() and vault.batch(1).vetoed


def test_watcher_when_key_not_an_auditor_then_veto_refused_and_nothing_changes(tmp_path: Path) -> None:
    chain = embedded_chain()
    with _world(chain, tmp_path) as (d, _auditor, _people, _server, _token):
        vault = Vault(chain, d.vault)
        stranger = AuditorKey.from_hex(secrets.token_hex(32))
        w3 = chain.w3
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
            {"from": d.operator, "to": w3.to_checksum_address(stranger.address), "value": Wei(10**18)}))
        watcher = BatchWatcher(vault, stranger, operator_audit(None, w3, d.vault))
        (missed,) = watcher.poll()
        assert missed.action == "missed" and "NotAuditor" in missed.detail
        assert not vault.is_frozen() and vault.batch(1).vetoes == 0


def test_audit_watch_command_when_operator_steals_on_anvil_then_vetoes(tmp_path: Path) -> None:
    try:
        anvil_binary()
    except Exception as error:  # any reason anvil cannot run
        missing(f"anvil unavailable: {error}")
    with start_anvil() as chain, _world(chain, tmp_path) as (d, auditor, people, server, token):
        key_file = tmp_path / "auditor.key"
        key_file.write_text(auditor.private_key.hex())
        key_file.chmod(0o600)
        env = {**os.environ, "DARKPOOL_AUDITOR_TOKEN": token}
        command = [sys.executable, "-m", "darkpool.cli", "audit", "watch", "--rpc", chain.url, "--vault", d.vault,
                   "--operator", server.url, "--key-file", str(key_file), "--poll", "0.2"]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as proc:
            try:
                seen = _read_until(proc, lambda e: e["action"] == "passed", 60)
                chain.advance_time(WINDOW_S)
                Vault(chain, d.vault).finalize(people[0], 1)
                _steal(chain, d)
                seen += _read_until(proc, lambda e: e["action"] == "frozen", 60)
            finally:
                proc.kill()
                proc.wait(10)
        assert ("vetoed", 2) in [(e["action"], e["batch_id"]) for e in seen]
        _everyone_escapes(chain, d, people, server.url)


def _read_until(proc: subprocess.Popen[str], done: Any, timeout_s: float) -> list[dict[str, Any]]:
    """Read the watcher's JSON lines until one satisfies ``done``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"watcher exited ({proc.poll()}): {stderr[-2000:]}")
        event = json.loads(line)
        seen.append(event)
        if done(event):
            return seen
    raise AssertionError(f"watcher did not get there in {timeout_s} s: {seen}")
