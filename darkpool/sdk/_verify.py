"""Check an account's own inclusion proofs: balance, fills and withdrawals of every batch.

Pure code: proofs come from the operator, roots from the operator and, when given, from the
chain's ``BatchCommitted`` events, which are what count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from darkpool.crypto.merkle import leaf_hash, parse_hash, process_proof
from darkpool.errors import InvalidProof
from darkpool.settlement.trees import BALANCE_LEAF, FILL_LEAF, WITHDRAWAL_LEAF

if TYPE_CHECKING:  # importing settlement loads web3; a check against given roots needs none of it
    from darkpool.settlement import CommittedBatch

__all__ = ["verify_batches"]


def _check(encoding: tuple[str, ...], value: list[Any], proof: list[str], root: str, what: str) -> None:
    computed = process_proof(leaf_hash(encoding, value), [parse_hash(p) for p in proof])
    if computed != parse_hash(root):
        raise InvalidProof(f"{what} does not verify against root {root}")


def verify_batches(holder: str, batches: list[dict[str, Any]], fills: list[dict[str, Any]],
                   chain_batches: Sequence[CommittedBatch] | None = None) -> list[str]:
    """Verify every proof of ``holder``; return what was verified; raise :class:`InvalidProof` on any failure.

    Fills the operator reports but no batch holds yet are counted in the statements.
    """
    statements: list[str] = []
    on_chain = {b.batch_id: b for b in chain_batches or []}
    proven_fills: set[tuple[int, str]] = set()
    for batch in batches:
        bid = batch["batch_id"]
        if chain_batches is not None:
            chain = on_chain.get(bid)
            if chain is None:
                raise InvalidProof(f"batch {bid} is not on chain")
            for name, root in (("balances_root", chain.balances_root), ("fills_root", chain.fills_root),
                               ("withdrawals_root", chain.withdrawals_root)):
                if parse_hash(root) != parse_hash(batch[name]):
                    raise InvalidProof(f"batch {bid}: operator's {name} differs from the chain's")
        if batch["balance"] is not None:
            b = batch["balance"]
            _check(BALANCE_LEAF, [holder, b["token"], b["amount"]], b["proof"], batch["balances_root"],
                   f"balance of batch {bid}")
            statements.append(f"batch {bid}: balance {b['amount']} included")
        for f in batch["fills"]:
            _check(FILL_LEAF, f["leaf"], f["proof"], batch["fills_root"], f"fill {f['leaf'][3]} of batch {bid}")
            proven_fills.add((int(f["leaf"][0]), str(f["leaf"][3])))
        for w in batch["withdrawals"]:
            _check(WITHDRAWAL_LEAF, [w["withdrawal_id"], holder, w["amount"]], w["proof"], batch["withdrawals_root"],
                   f"withdrawal {w['withdrawal_id']} of batch {bid}")
            statements.append(f"batch {bid}: withdrawal {w['withdrawal_id']} of {w['amount']} included")
        if batch["fills"]:
            statements.append(f"batch {bid}: {len(batch['fills'])} fill(s) included")
    if batches:
        missing = [f for f in fills if (f["round_id"], f["order_id"]) not in proven_fills]
        if missing:
            statements.append(f"{len(missing)} fill(s) not yet in a committed batch")
    return statements
