"""The operator's chain side: the settlement batcher of issue 6 behind the core's ``Settler`` protocol.

A committed batch is only a proposal until its challenge window passes unvetoed: withdrawals are
claimable, and escapes pay, from final batches only. Before each new batch the operator makes the
latest batch whose window has passed final (anyone may; the operator has the most reason to).
"""

from __future__ import annotations

from typing import Any

from darkpool.errors import TransactionReverted
from darkpool.settlement import BatchTrees, Chain, SettlementBatcher, Vault

__all__ = ["ChainSettler"]


class ChainSettler:
    """Seal commit-reveal roots and commit batches to ``vault`` as ``operator``."""

    def __init__(self, chain: Chain, vault_address: str, operator: str) -> None:
        self.chain = chain
        self.vault = Vault(chain, vault_address)
        self.batcher = SettlementBatcher(self.vault, operator)

    def seal_round(self, round_id: int, commitments_root: str) -> str:
        return self.batcher.seal_round(round_id, commitments_root).tx_hash

    def settle(self, trees: Any) -> dict[str, Any]:
        """Commit a batch's trees, built once by the operator, in one transaction."""
        assert isinstance(trees, BatchTrees)
        self.finalize_due()
        record = self.batcher.settle(trees)
        return {"tx": record.tx.tx_hash, "block": record.tx.block_number}

    def commitments_root(self, round_id: int) -> str:
        return self.vault.commitments_root(round_id)

    def last_batch_id(self) -> int:
        return self.vault.last_batch_id()

    def deposits(self, from_block: int = 0) -> list[tuple[int, str, int]]:
        return self.vault.deposits(from_block)

    def finalize_due(self) -> int:
        """Make the latest batch whose challenge window has passed final; return the final batch id."""
        final = self.vault.final_batch_id()
        now = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        for batch_id in range(self.vault.last_batch_id(), final, -1):
            state = self.vault.batch(batch_id)
            if state.committed_at and state.final_at <= now and not state.vetoed:
                try:
                    self.vault.finalize(self.batcher.operator, batch_id)
                except TransactionReverted:  # frozen, or someone finalized it first
                    return self.vault.final_batch_id()
                return batch_id
        return final

    def batch_final(self, batch_id: int) -> bool:
        """Whether ``batch_id`` is final on chain: its withdrawals can be claimed."""
        state = self.vault.batch(batch_id)
        return state.is_final or (state.committed_at != 0 and not state.vetoed and not self.vault.is_frozen()
                                  and state.final_at <= int(self.chain.w3.eth.get_block("latest")["timestamp"]))
