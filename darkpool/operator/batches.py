"""Settlement batches: freeze the books into trees once, journal them, commit them on chain, serve proofs.

A batch is journaled first (:class:`BatchPrepared`: its balances, the range of fills and the
withdrawals it takes, and the three roots) and posted on chain after; :class:`BatchPosted`
records that it landed. A batch journaled but not posted — the chain call failed, or the
operator crashed in between — is posted by the next settle before anything else, after reading
the chain's last batch id, so it is never sent twice and never skipped. The trees are built once,
kept with the batch record, and every proof is served from them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from darkpool.domain import account
from darkpool.errors import ChainError, DarkPoolError, NotFound, PhaseError
from darkpool.ledger import Appended, journal_head_hex
from darkpool.operator.apply import batch_input
from darkpool.operator.core import OperatorCore
from darkpool.operator.events import BatchPosted, BatchPrepared
from darkpool.operator.state import BatchRecord
from darkpool.settlement.trees import build_trees, fill_leaf

__all__ = ["find_batch", "proofs_of", "settle_batch"]


def settle_batch(core: OperatorCore) -> tuple[Appended, BatchRecord]:
    """Post any journaled batch not yet on chain, then commit the current books as the next batch."""
    settler = core.require_settler()
    with core.lock:
        appended = _post_pending(core)
        core.settle_expiries()  # expiry settlements are fills of this batch
        now = core.tick()
        balances = core.balances()
        if not balances:
            raise PhaseError("nothing to settle: no account has deposited yet")
        core.journal.flush()
        pending = [w.withdrawal_id for w in core.books.withdrawals if w.batch_id is None]
        draft = BatchPrepared(
            batch_id=len(core.batches) + 1, token=account(core.config.token),
            balances=tuple((a, int(v)) for a, v in balances.items()), journal_seq=int(core.journal.seq),
            journal_head=journal_head_hex(core.journal.head), deposits_credited=len(core.books.deposits),
            fills_from=core.fills_batched, fills_to=len(core.books.fills), withdrawal_ids=tuple(pending),
            balances_root="", fills_root="", withdrawals_root="", at=now)
        trees = build_trees(batch_input(core, draft))
        event = replace(draft, balances_root=trees.balances_root, fills_root=trees.fills_root,
                        withdrawals_root=trees.withdrawals_root)
        core.accept(event, trees)
        appended = _post(core, settler, core.batches[-1]) or appended
        assert appended is not None
        return appended, core.batches[-1]


def _post_pending(core: OperatorCore) -> Appended | None:
    if core.batches and not core.batches[-1].posted:
        return _post(core, core.require_settler(), core.batches[-1])
    return None


def _post(core: OperatorCore, settler: Any, record: BatchRecord) -> Appended:
    """Commit a journaled batch on chain once (reading the chain's last batch id first)."""
    batch_id = record.prepared.batch_id
    try:
        committed = int(settler.last_batch_id())
    except DarkPoolError as exc:
        raise ChainError(f"cannot read the last batch id on chain: {exc}") from exc
    if committed >= batch_id:
        return core.accept(BatchPosted(batch_id, None, core.tick()))
    if committed != batch_id - 1:
        raise ChainError(f"chain's last batch is {committed}, but batch {batch_id} is the next one journaled")
    chain = settler.settle(record.trees)
    return core.accept(BatchPosted(batch_id, chain.get("tx"), core.tick()))


def find_batch(core: OperatorCore, batch_id: int) -> BatchRecord:
    if not 1 <= batch_id <= len(core.batches):
        raise NotFound(f"no batch {batch_id}")
    return core.batches[batch_id - 1]


def proofs_of(core: OperatorCore, holder: str) -> list[dict[str, Any]]:
    """Return, for every batch, ``holder``'s balance, fills and withdrawals with their proofs."""
    who = account(holder)
    out: list[dict[str, Any]] = []
    for record in core.batches:
        trees, p = record.trees, record.prepared
        entry: dict[str, Any] = {"batch_id": p.batch_id, "balances_root": p.balances_root,
                                 "fills_root": p.fills_root, "withdrawals_root": p.withdrawals_root,
                                 "balance": None, "fills": [], "withdrawals": []}
        if who in trees.batch.balances:
            amount, proof = trees.balance_proof(who)
            entry["balance"] = {"amount": int(amount), "token": trees.batch.token, "proof": proof}
        entry["fills"] = [{"leaf": list(fill_leaf(f)), "proof": proof} for f, proof in trees.fill_proofs_of(who)]
        entry["withdrawals"] = [{"withdrawal_id": w.withdrawal_id, "amount": int(w.amount), "proof": p}
                                for w, p in trees.withdrawals_of(who)]
        out.append(entry)
    return out

