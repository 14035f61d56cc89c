"""Settlement on chain: batch trees, the vault contract (one wrapper for operator, institutions and
auditors), chain adapters and the batcher.

Importing this package imports web3; the core (domain, engine, margin, ledger) must not.
"""

from __future__ import annotations

from darkpool.settlement.batcher import BalanceProof, BatchRecord, SettlementBatcher, WithdrawalProof
from darkpool.settlement.chain import Chain, RpcChain, TesterChain, anvil_binary, embedded_chain, start_anvil
from darkpool.settlement.contracts import (
    BatchState,
    CommittedBatch,
    MockToken,
    Sender,
    Signer,
    TxResult,
    Vault,
    load_artifact,
)
from darkpool.settlement.trees import (
    BALANCE_LEAF,
    EMPTY_ROOT,
    FILL_LEAF,
    WITHDRAWAL_LEAF,
    BatchId,
    BatchInput,
    BatchTrees,
    WithdrawalId,
    WithdrawalRecord,
    build_trees,
    fill_leaf,
)

__all__ = [
    "BALANCE_LEAF",
    "EMPTY_ROOT",
    "FILL_LEAF",
    "WITHDRAWAL_LEAF",
    "BalanceProof",
    "BatchId",
    "BatchInput",
    "BatchRecord",
    "BatchState",
    "BatchTrees",
    "Chain",
    "CommittedBatch",
    "MockToken",
    "RpcChain",
    "Sender",
    "SettlementBatcher",
    "Signer",
    "TesterChain",
    "TxResult",
    "Vault",
    "WithdrawalId",
    "WithdrawalProof",
    "WithdrawalRecord",
    "anvil_binary",
    "build_trees",
    "embedded_chain",
    "fill_leaf",
    "load_artifact",
    "start_anvil",
]
