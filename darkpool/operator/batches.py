"""Settlement batches: freeze the books into trees, commit them on chain, journal the batch, serve proofs.

Published batch data (balances, fills and withdrawals of each batch) is enough to rebuild every
tree, so proofs survive a restart without keeping the batcher's memory.
"""

from __future__ import annotations

from typing import Any

from darkpool.domain import Account, BaseUnits, Fill, Lots, OrderId, Side, Ticks, account
from darkpool.errors import NotFound, PhaseError
from darkpool.ledger import Appended, journal_head_hex
from darkpool.operator.core import OperatorCore
from darkpool.settlement.trees import (
    BatchId,
    BatchInput,
    BatchTrees,
    WithdrawalId,
    WithdrawalRecord,
    build_trees,
    fill_leaf,
)

__all__ = ["batch_input", "batch_trees", "settle_batch"]


def _fill_to_record(f: Fill) -> dict[str, Any]:
    """A fill as published in a batch record (the auditor and the SDK read this shape)."""
    return {"round_id": f.round_id, "account": f.account, "instrument": f.instrument, "order_id": f.order_id,
            "side": int(f.side), "quantity_lots": int(f.quantity_lots), "price_ticks": int(f.price_ticks)}


def _fill_from_record(f: dict[str, Any]) -> Fill:
    return Fill(f["round_id"], OrderId(f["order_id"]), Account(f["account"]), f["instrument"], Side(f["side"]),
                Lots(f["quantity_lots"]), Ticks(f["price_ticks"]))


def batch_input(record: dict[str, Any]) -> BatchInput:
    """Rebuild the :class:`BatchInput` of a journaled batch record."""
    return BatchInput(
        batch_id=BatchId(record["batch_id"]),
        token=record["token"],
        balances={Account(a): BaseUnits(v) for a, v in record["balances"].items()},
        journal_head=record["journal_head"],
        deposits_credited=record["deposits_credited"],
        fills=tuple(_fill_from_record(f) for f in record["fills"]),
        withdrawals=tuple(WithdrawalRecord(WithdrawalId(w["withdrawal_id"]), Account(w["account"]),
                                           BaseUnits(w["amount"])) for w in record["withdrawals"]),
    )


def batch_trees(record: dict[str, Any]) -> BatchTrees:
    return build_trees(batch_input(record))


def settle_batch(core: OperatorCore) -> tuple[Appended, dict[str, Any]]:
    """Commit the current books as the next batch on chain and journal it."""
    settler = core.require_settler()
    with core.lock:
        balances = core.balances()
        if not balances:
            raise PhaseError("nothing to settle: no account has deposited yet")
        core.journal.flush()
        journal_seq, head = int(core.journal.seq), journal_head_hex(core.journal.head)
        fills = core.books.fills[core._fills_batched:]
        pending = [w for w in core.books.withdrawals if w.batch_id is None]
        record: dict[str, Any] = {
            "batch_id": len(core.batches) + 1,
            "token": account(core.config.token),
            "balances": {a: int(v) for a, v in balances.items()},
            "journal_seq": journal_seq,
            "journal_head": head,
            "deposits_credited": len(core.books.deposits),
            "fills": [_fill_to_record(f) for f in fills],
            "withdrawals": [{"withdrawal_id": w.withdrawal_id, "account": w.account, "amount": int(w.amount)}
                            for w in pending],
            "fills_end": len(core.books.fills),
        }
        trees = batch_trees(record)
        chain = settler.settle(trees.batch)
        record.update({"balances_root": trees.balances_root, "fills_root": trees.fills_root,
                       "withdrawals_root": trees.withdrawals_root, "tx": chain.get("tx"), "at": core.now()})
        appended = core._accept("batch", record)
        return appended, record


def find_batch(core: OperatorCore, batch_id: int) -> dict[str, Any]:
    for record in core.batches:
        if record["batch_id"] == batch_id:
            return record
    raise NotFound(f"no batch {batch_id}")


def proofs_of(core: OperatorCore, holder: str) -> list[dict[str, Any]]:
    """Return, for every batch, ``holder``'s balance, fills and withdrawals with their proofs."""
    who = account(holder)
    out: list[dict[str, Any]] = []
    for record in core.batches:
        trees = batch_trees(record)
        entry: dict[str, Any] = {"batch_id": record["batch_id"], "balances_root": record["balances_root"],
                                 "fills_root": record["fills_root"], "withdrawals_root": record["withdrawals_root"],
                                 "balance": None, "fills": [], "withdrawals": []}
        if who in trees.batch.balances:
            amount, proof = trees.balance_proof(who)
            entry["balance"] = {"amount": int(amount), "token": trees.batch.token, "proof": proof}
        entry["fills"] = [{"leaf": list(fill_leaf(f)), "proof": p} for f, p in trees.fill_proofs_of(who)]
        entry["withdrawals"] = [{"withdrawal_id": w.withdrawal_id, "amount": int(w.amount), "proof": p}
                                for w, p in trees.withdrawals_of(who)]
        out.append(entry)
    return out
