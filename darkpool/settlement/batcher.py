"""The settlement batcher: trees from the ledger, one transaction per batch, proofs per account."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from darkpool.crypto.merkle import HexHash, StandardMerkleTree
from darkpool.domain import Account, BaseUnits, account
from darkpool.errors import ProtocolError, ValidationError
from darkpool.settlement.contracts import TxResult, Vault
from darkpool.settlement.trees import BatchId, BatchInput, BatchTrees, WithdrawalId, build_trees

__all__ = ["BalanceProof", "BatchRecord", "SettlementBatcher", "WithdrawalProof"]


@dataclass(frozen=True)
class BatchRecord:
    """A batch as committed on chain."""

    batch_id: BatchId
    balances_root: HexHash
    fills_root: HexHash
    withdrawals_root: HexHash
    journal_head: HexHash
    deposits_credited: int
    tx: TxResult


@dataclass(frozen=True)
class BalanceProof:
    """An account's committed balance and its proof: the argument list of ``escape``."""

    batch_id: BatchId
    account: Account
    amount: BaseUnits
    balances_root: HexHash
    proof: tuple[HexHash, ...]


@dataclass(frozen=True)
class WithdrawalProof:
    """A committed withdrawal and its proof: the argument list of ``claimWithdrawal``."""

    batch_id: BatchId
    withdrawal_id: WithdrawalId
    account: Account
    amount: BaseUnits
    withdrawals_root: HexHash
    proof: tuple[HexHash, ...]


class SettlementBatcher:
    """Commit batches to a vault as its operator and serve the proofs of committed state.

    ``recorder`` receives each :class:`BatchRecord` after its receipt (the ledger journals it);
    with ``dump_dir`` every tree is also written as an OpenZeppelin ``standard-v1`` dump for
    auditors (``batch-<id>-<tree>.json``).
    """

    def __init__(
        self,
        vault: Vault,
        operator: str,
        *,
        recorder: Callable[[BatchRecord], None] | None = None,
        dump_dir: Path | None = None,
    ) -> None:
        """Drive ``vault`` from the ``operator`` account."""
        self.vault = vault
        self.operator = operator
        self._recorder = recorder
        self._dump_dir = dump_dir
        self._records: list[BatchRecord] = []
        self._trees: dict[BatchId, BatchTrees] = {}

    @property
    def records(self) -> tuple[BatchRecord, ...]:
        """Return the batches this batcher committed, oldest first."""
        return tuple(self._records)

    def settle(self, batch: BatchInput | BatchTrees) -> BatchRecord:
        """Commit the trees of ``batch`` (built here unless given built) in one transaction; record the receipt."""
        trees = batch if isinstance(batch, BatchTrees) else build_trees(batch)
        batch = trees.batch
        last = self.vault.last_batch_id()
        if batch.batch_id <= last:
            raise ProtocolError(f"batch id must exceed the committed {last}, got {batch.batch_id}")
        if batch.token != account(self.vault.token_address()):
            raise ValidationError(f"batch token {batch.token} is not the vault's {self.vault.token_address()}")
        tx = self.vault.commit_batch(
            self.operator,
            batch.batch_id,
            trees.balances_root,
            trees.fills_root,
            trees.withdrawals_root,
            batch.journal_head,
            batch.deposits_credited,
        )
        record = BatchRecord(
            batch.batch_id,
            trees.balances_root,
            trees.fills_root,
            trees.withdrawals_root,
            batch.journal_head,
            batch.deposits_credited,
            tx,
        )
        self._records.append(record)
        self._trees[batch.batch_id] = trees
        if self._dump_dir is not None:
            self._write_dumps(trees)
        if self._recorder is not None:
            self._recorder(record)
        return record

    def seal_round(self, round_id: int, commitments_root: str) -> TxResult:
        """Post a commit-reveal round's commitments root before its reveals open."""
        return self.vault.seal_commitments(self.operator, round_id, commitments_root)

    def trees(self, batch_id: int) -> BatchTrees:
        """Return the trees of a committed batch."""
        found = self._trees.get(BatchId(batch_id))
        if found is None:
            raise ValidationError(f"batch {batch_id} was not committed by this batcher")
        return found

    def balance_proof(self, holder: str, batch_id: int | None = None) -> BalanceProof:
        """Return ``holder``'s balance with its proof in ``batch_id``, by default the vault's last final
        batch: the one ``escape`` pays from."""
        if not self._records:
            raise ProtocolError("no batch has been committed yet")
        wanted = self.vault.final_batch_id() if batch_id is None else batch_id
        record = next((r for r in self._records if r.batch_id == wanted), None)
        if record is None:
            raise ProtocolError(f"batch {wanted} is not one this batcher committed" if wanted
                                else "no batch is final yet")
        amount, proof = self._trees[record.batch_id].balance_proof(holder)
        return BalanceProof(record.batch_id, account(holder), amount, record.balances_root, tuple(proof))

    def withdrawal_proofs(self, holder: str) -> list[WithdrawalProof]:
        """Return every committed withdrawal of ``holder`` with its proof, oldest batch first."""
        found = []
        for record in self._records:
            for withdrawal, proof in self._trees[record.batch_id].withdrawals_of(holder):
                found.append(
                    WithdrawalProof(
                        record.batch_id,
                        withdrawal.withdrawal_id,
                        withdrawal.account,
                        withdrawal.amount,
                        record.withdrawals_root,
                        tuple(proof),
                    )
                )
        return found

    def _write_dumps(self, trees: BatchTrees) -> None:
        assert self._dump_dir is not None
        self._dump_dir.mkdir(parents=True, exist_ok=True)
        named: dict[str, StandardMerkleTree | None] = {
            "balances": trees.balances,
            "fills": trees.fills,
            "withdrawals": trees.withdrawals,
        }
        for name, tree in named.items():
            if tree is not None:
                path = self._dump_dir / f"batch-{trees.batch.batch_id}-{name}.json"
                path.write_text(json.dumps(tree.dump()) + "\n", encoding="utf-8")
