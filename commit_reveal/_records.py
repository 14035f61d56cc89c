"""What a round accepts and decides: commitment and reveal records, and the decisions of each action.

Every action of :class:`~commit_reveal.CommitRevealRound` is split in two: a *check* that reads
the round and returns a decision (changing nothing), and an *apply* that takes the decision and
cannot fail. The operator journals each decision between the two, and replay applies the
journaled decisions again; the in-process engine simply does both at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from commit_reveal._commitment import CommitKey, CommitmentHash, Reveal
from darkpool.domain import Account, BaseUnits, Lots, Order, OrderId, RoundResult, Side, Ticks
from darkpool.errors import DarkPoolError

__all__ = ["BatchOutcome", "Clearing", "CommitRecord", "RevealDecision", "RevealRecord"]

T = TypeVar("T")


class CommitRecord(NamedTuple):
    """An accepted commitment, with the operator's id and sequence number for its order."""

    account: Account
    address: bytes
    """The account as 20 raw bytes."""
    nonce: int
    commitment: CommitmentHash
    bond: BaseUnits
    digest: bytes
    order_id: OrderId
    priority: int
    expiry: int
    signature: bytes


class RevealRecord(NamedTuple):
    """An opened commitment: the order it revealed and what trades after the margin cap."""

    side: Side
    limit_ticks: Ticks
    revealed_lots: Lots
    quantity_lots: Lots
    """The quantity that trades: ``min(revealed, margin cap)``."""
    salt: bytes


@dataclass(frozen=True, slots=True)
class BatchOutcome(Generic[T]):
    """Accepted items (in input order) and the error of each rejected one, by input index."""

    accepted: tuple[T, ...]
    rejected: dict[int, DarkPoolError]

    def raise_first(self) -> None:
        """Raise the error of the first rejected item, if any."""
        if self.rejected:
            raise self.rejected[min(self.rejected)]


@dataclass(frozen=True, slots=True)
class RevealDecision:
    """Reveals that open their commitments, the quantities the margin cap lowered, and the refusals."""

    accepted: tuple[Reveal, ...]
    capped: Mapping[CommitKey, Lots]
    rejected: dict[int, DarkPoolError]

    def raise_first(self) -> None:
        """Raise the error of the first rejected item, if any."""
        if self.rejected:
            raise self.rejected[min(self.rejected)]


@dataclass(frozen=True, slots=True)
class Clearing:
    """A round's clearing: the clients' orders that went in (revealed and capped, as columns:
    ids, sides, limits, quantities, priorities), the operator's extra orders (liquidations) and
    the result."""

    columns: tuple[list[OrderId], list[Side], list[Ticks], list[Lots], list[int]]
    extra_orders: tuple[Order, ...]
    result: RoundResult

    @property
    def orders(self) -> tuple[Order, ...]:
        """The clients' orders (built on demand: clearing itself needs only the columns)."""
        return tuple(map(Order, *self.columns))
