"""The three trees of a settlement batch, built from a frozen snapshot of the ledger.

Leaf types match ``contracts/src/DarkPoolVault.sol``; each tree has its own types so a leaf of
one tree cannot pass as a leaf of another:

* balances    ``(address account, address token, uint256 amount)``
* withdrawals ``(uint256 withdrawalId, address account, uint256 amount)``
* fills       ``(uint256 roundId, address account, string instrument, string orderId,
  uint8 side, uint256 quantityLots, uint256 priceTicks)`` (checked off chain only)

Pure code: no web3, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NewType

from darkpool.crypto.merkle import HexHash, StandardMerkleTree, hex_hash, parse_hash
from darkpool.domain import Account, BaseUnits, Fill, account
from darkpool.errors import ValidationError

__all__ = [
    "BALANCE_LEAF",
    "EMPTY_ROOT",
    "FILL_LEAF",
    "WITHDRAWAL_LEAF",
    "BatchId",
    "BatchInput",
    "BatchTrees",
    "WithdrawalId",
    "WithdrawalRecord",
    "build_trees",
    "fill_leaf",
]

BatchId = NewType("BatchId", int)
WithdrawalId = NewType("WithdrawalId", int)

BALANCE_LEAF = ("address", "address", "uint256")
WITHDRAWAL_LEAF = ("uint256", "address", "uint256")
FILL_LEAF = ("uint256", "address", "string", "string", "uint8", "uint256", "uint256")
EMPTY_ROOT = HexHash("0x" + "00" * 32)
"""The root posted for a tree with no leaves (the contract then stores nothing for it)."""

_UINT64 = 2**64


def _uint(name: str, value: object, bound: int = 2**256) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
        raise ValidationError(f"{name} must be an integer in 0..{bound - 1}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class WithdrawalRecord:
    """A withdrawal the ledger has debited; ``withdrawal_id`` is unique across all batches."""

    withdrawal_id: WithdrawalId
    account: Account
    amount: BaseUnits

    def __post_init__(self) -> None:
        _uint("withdrawal_id", self.withdrawal_id)
        object.__setattr__(self, "account", account(self.account))
        _uint("amount", self.amount)

    def leaf(self) -> tuple[int, str, int]:
        return (self.withdrawal_id, self.account, self.amount)


def fill_leaf(fill: Fill) -> tuple[int, str, str, str, int, int, int]:
    """Return the fills-tree leaf of ``fill`` (types :data:`FILL_LEAF`): the one encoding of a fill."""
    return (
        fill.round_id,
        fill.account,
        fill.instrument,
        fill.order_id,
        int(fill.side),
        _uint("quantity_lots", fill.quantity_lots),
        _uint("price_ticks", fill.price_ticks),
    )


@dataclass(frozen=True, slots=True)
class BatchInput:
    """What a batch settles: the ledger's state after some rounds, frozen.

    ``balances`` holds every account's full collateral balance (after the withdrawals of this
    batch are debited); ``deposits_credited`` is how many on-chain deposits (by id) those balances
    include; ``journal_head`` is the head of the operator's hash-chained journal.
    """

    batch_id: BatchId
    token: str
    balances: Mapping[Account, BaseUnits]
    journal_head: HexHash
    deposits_credited: int = 0
    fills: tuple[Fill, ...] = ()
    withdrawals: tuple[WithdrawalRecord, ...] = ()

    def __post_init__(self) -> None:
        _uint("batch_id", self.batch_id, _UINT64)
        if self.batch_id == 0:
            raise ValidationError("batch_id must be at least 1, got 0")
        _uint("deposits_credited", self.deposits_credited, _UINT64)
        object.__setattr__(self, "token", account(self.token))
        object.__setattr__(self, "journal_head", hex_hash(parse_hash(self.journal_head)))
        normalised: dict[Account, BaseUnits] = {}
        for holder, amount in self.balances.items():
            key = account(holder)
            if key in normalised:
                raise ValidationError(f"account {key} appears twice in balances")
            normalised[key] = BaseUnits(_uint(f"balance of {key}", amount))
        if not normalised:
            raise ValidationError("balances must name at least one account")
        object.__setattr__(self, "balances", MappingProxyType(normalised))
        object.__setattr__(self, "fills", tuple(self.fills))
        for fill in self.fills:
            if not isinstance(fill, Fill):
                raise ValidationError(f"batch fills must be darkpool.domain.Fill, got {type(fill).__name__}")
        object.__setattr__(self, "withdrawals", tuple(self.withdrawals))
        ids = [w.withdrawal_id for w in self.withdrawals]
        if len(set(ids)) != len(ids):
            raise ValidationError("withdrawal ids must be unique within a batch")


@dataclass(frozen=True)
class BatchTrees:
    """The trees of one batch and the proofs they serve."""

    batch: BatchInput
    balances: StandardMerkleTree
    fills: StandardMerkleTree | None
    withdrawals: StandardMerkleTree | None

    @property
    def balances_root(self) -> HexHash:
        return self.balances.root

    @property
    def fills_root(self) -> HexHash:
        return self.fills.root if self.fills is not None else EMPTY_ROOT

    @property
    def withdrawals_root(self) -> HexHash:
        return self.withdrawals.root if self.withdrawals is not None else EMPTY_ROOT

    def balance_proof(self, holder: str) -> tuple[BaseUnits, list[HexHash]]:
        """Return ``holder``'s committed balance and its proof against the balances root."""
        key = account(holder)
        amount = self.batch.balances.get(key)
        if amount is None:
            raise ValidationError(f"account {key} has no balance in batch {self.batch.batch_id}")
        return amount, self.balances.get_proof((key, self.batch.token, amount))

    def withdrawal_proof(self, withdrawal_id: int) -> tuple[WithdrawalRecord, list[HexHash]]:
        """Return a withdrawal of this batch and its proof against the withdrawals root."""
        for record in self.batch.withdrawals:
            if record.withdrawal_id == withdrawal_id:
                assert self.withdrawals is not None
                return record, self.withdrawals.get_proof(record.leaf())
        raise ValidationError(f"withdrawal {withdrawal_id} is not in batch {self.batch.batch_id}")

    def withdrawals_of(self, holder: str) -> list[tuple[WithdrawalRecord, list[HexHash]]]:
        """Return every withdrawal of ``holder`` in this batch with its proof."""
        key = account(holder)
        return [self.withdrawal_proof(w.withdrawal_id) for w in self.batch.withdrawals if w.account == key]

    def fill_proofs_of(self, holder: str) -> list[tuple[Fill, list[HexHash]]]:
        """Return every fill of ``holder`` in this batch with its proof against the fills root."""
        key = account(holder)
        if self.fills is None:
            return []
        return [(f, self.fills.get_proof(fill_leaf(f))) for f in self.batch.fills if f.account == key]


def build_trees(batch: BatchInput) -> BatchTrees:
    """Build the balances, fills and withdrawals trees of ``batch``."""
    balances = StandardMerkleTree.of(
        [(holder, batch.token, amount) for holder, amount in batch.balances.items()], BALANCE_LEAF
    )
    fills = StandardMerkleTree.of([fill_leaf(f) for f in batch.fills], FILL_LEAF) if batch.fills else None
    withdrawals = (
        StandardMerkleTree.of([w.leaf() for w in batch.withdrawals], WITHDRAWAL_LEAF) if batch.withdrawals else None
    )
    return BatchTrees(batch, balances, fills, withdrawals)
