"""The operator's chain side: the settlement batcher of issue 6 behind the core's ``Settler`` protocol."""

from __future__ import annotations

from typing import Any

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
        record = self.batcher.settle(trees)
        return {"tx": record.tx.tx_hash, "block": record.tx.block_number}

    def commitments_root(self, round_id: int) -> str:
        return self.vault.commitments_root(round_id)

    def last_batch_id(self) -> int:
        return self.vault.last_batch_id()

    def deposits(self, from_block: int = 0) -> list[tuple[int, str, int]]:
        return self.vault.deposits(from_block)
