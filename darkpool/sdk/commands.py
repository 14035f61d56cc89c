"""Client verbs for the CLI: each takes plain arguments, talks to the operator and returns JSON-ready data.

Commit tickets (the order and its secret salt, needed to reveal) are written to a file the
client keeps; nothing secret is ever sent before the reveal phase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkpool.domain import Side
from darkpool.errors import NotFound, PhaseError
from darkpool.sdk._client import DarkPoolClient
from darkpool.sdk._keys import create_key, load_key
from darkpool.sdk._ops import CommitTicket

if TYPE_CHECKING:
    from darkpool.settlement import Vault

__all__ = ["balance", "claim", "commit", "deposit", "fills", "key_create", "margin", "reveal", "verify",
           "withdraw"]


def key_create(path: str) -> dict[str, Any]:
    return {"address": create_key(path).address, "path": path}


def _client(url: str, key: str) -> DarkPoolClient:
    return DarkPoolClient(url, load_key(key))


def balance(url: str, key: str) -> dict[str, Any]:
    with _client(url, key) as c:
        return {**c.balance(), "positions": c.positions()}


def fills(url: str, key: str) -> list[dict[str, Any]]:
    with _client(url, key) as c:
        return c.fills()


def margin(url: str, key: str) -> dict[str, Any]:
    with _client(url, key) as c:
        return c.margin()


def commit(url: str, key: str, round_id: int, instrument: str, side: str, limit_ticks: int, quantity_lots: int,
           ticket_path: str, bond: int = 0) -> dict[str, Any]:
    """Commit an order and write its ticket (with the secret salt) to ``ticket_path``."""
    with _client(url, key) as c:
        t = c.commit_order(round_id, instrument, Side.parse(side), limit_ticks, quantity_lots, bond)
    data = {"round_id": t.round_id, "instrument": t.instrument, "nonce": t.nonce, "side": t.side.label,
            "limit_ticks": t.limit_ticks, "quantity_lots": t.quantity_lots, "salt": t.salt.hex(), "bond": t.bond}
    Path(ticket_path).write_text(json.dumps(data))
    return {k: v for k, v in data.items() if k != "salt"} | {"ticket": ticket_path}


def reveal(url: str, key: str, ticket_path: str) -> dict[str, Any]:
    d = json.loads(Path(ticket_path).read_text())
    ticket = CommitTicket(d["round_id"], d["instrument"], d["nonce"], Side.parse(d["side"]), d["limit_ticks"],
                          d["quantity_lots"], bytes.fromhex(d["salt"]), d["bond"])
    with _client(url, key) as c:
        return c.reveal(ticket)


def withdraw(url: str, key: str, amount: int) -> dict[str, Any]:
    with _client(url, key) as c:
        return {"withdrawal_id": c.withdraw(amount)}


def _vault(rpc_url: str, address: str) -> Vault:
    from darkpool.settlement import RpcChain, Vault

    return Vault(RpcChain(rpc_url), address)


def deposit(url: str, key: str, rpc_url: str, amount: int) -> dict[str, Any]:
    """Approve and deposit ``amount`` into the operator's vault on chain (signed with this key)."""
    with _client(url, key) as c:
        vault = _vault(rpc_url, c.info()["verifying_contract"])
        return {"tx": vault.deposit(c.ops.me, amount, approve=True).tx_hash}


def claim(url: str, key: str, rpc_url: str, withdrawal_id: int) -> dict[str, Any]:
    """Claim a committed withdrawal on chain with its proof."""
    with _client(url, key) as c:
        for batch in c.proofs():
            for w in batch["withdrawals"]:
                if w["withdrawal_id"] == withdrawal_id:
                    vault = _vault(rpc_url, c.info()["verifying_contract"])
                    state = vault.batch(batch["batch_id"])
                    if not state.is_final and (state.vetoed or vault.is_frozen()):
                        raise PhaseError(f"batch {batch['batch_id']} was vetoed or the vault froze before it became "
                                         "final: escape with your last final balance instead")
                    tx = vault.claim_withdrawal(c.ops.me, batch["batch_id"], withdrawal_id, c.address, w["amount"],
                                                w["proof"])
                    return {"tx": tx.tx_hash}
    raise NotFound(f"withdrawal {withdrawal_id} is in no committed batch yet")


def verify(url: str, key: str, rpc_url: str | None = None) -> list[str]:
    """Verify this account's inclusion in every batch (against the chain's roots when ``rpc_url`` is given)."""
    with _client(url, key) as c:
        on_chain = None
        if rpc_url is not None:
            on_chain = _vault(rpc_url, c.info()["verifying_contract"]).committed_batches()
        return c.verify_inclusion(on_chain)
