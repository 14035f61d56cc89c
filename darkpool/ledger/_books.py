"""The registries the journal replays into: deposits, withdrawals and booked fills.

Registries, not balances: cash and positions have one owner, the margin engine
(:meth:`darkpool.margin.MarginEngine.cash`, :meth:`~darkpool.margin.MarginEngine.positions`),
and the operator reads balances there. Pure state: every method either changes the registries
completely or raises and changes nothing. Amounts are token base units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from darkpool.domain import Account, BaseUnits, Fill
from darkpool.errors import PolicyViolation, ValidationError

__all__ = ["Books", "Deposit", "Withdrawal"]


@dataclass(frozen=True, slots=True)
class Deposit:
    """An on-chain deposit credited to the books; ``deposit_id`` is the vault's counter."""

    deposit_id: int
    account: Account
    amount: BaseUnits


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A withdrawal debited from the books, to be committed in batch ``batch_id`` (None until then)."""

    withdrawal_id: int
    account: Account
    amount: BaseUnits
    batch_id: int | None = None


@dataclass(slots=True)
class Books:
    """Deposits by id (each credited once), withdrawals with their batch, and every booked fill."""

    deposits: dict[int, Deposit] = field(default_factory=dict)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    _depositors: dict[Account, None] = field(default_factory=dict)

    def credit(self, deposit: Deposit) -> None:
        """Register an on-chain deposit once; a second credit of the same id is refused."""
        if deposit.deposit_id in self.deposits:
            raise PolicyViolation(f"deposit {deposit.deposit_id} was already credited")
        if deposit.amount <= 0:
            raise ValidationError(f"deposit amount must be positive, got {deposit.amount}")
        self.deposits[deposit.deposit_id] = deposit
        self._depositors[deposit.account] = None

    def debit(self, withdrawal: Withdrawal) -> None:
        """Register a withdrawal (the margin engine, owner of cash, has already debited it)."""
        if withdrawal.amount <= 0:
            raise ValidationError(f"withdrawal amount must be positive, got {withdrawal.amount}")
        if withdrawal.batch_id is not None:
            raise ValidationError(f"withdrawal {withdrawal.withdrawal_id} is registered before any batch, "
                                  f"got batch {withdrawal.batch_id}")
        last = self.withdrawals[-1].withdrawal_id if self.withdrawals else 0
        if withdrawal.withdrawal_id <= last:
            raise PolicyViolation(f"withdrawal ids are registered in increasing order: expected above {last}, "
                                  f"got {withdrawal.withdrawal_id}")
        self.withdrawals.append(withdrawal)

    def assign_batch(self, batch_id: int) -> list[Withdrawal]:
        """Put every unbatched withdrawal into ``batch_id``; return them."""
        taken: list[Withdrawal] = []
        for i, w in enumerate(self.withdrawals):
            if w.batch_id is None:
                self.withdrawals[i] = Withdrawal(w.withdrawal_id, w.account, w.amount, batch_id)
                taken.append(self.withdrawals[i])
        return taken

    def record_fill(self, fill: Fill) -> None:
        """Register a booked fill (the margin engine moves the position)."""
        if not isinstance(fill, Fill):
            raise ValidationError(f"expected a darkpool.domain.Fill, got {type(fill).__name__}")
        self.fills.append(fill)

    def accounts(self) -> list[Account]:
        """Every account that ever deposited, sorted."""
        return sorted(self._depositors)

    def fills_of(self, account: Account) -> list[Fill]:
        return [f for f in self.fills if f.account == account]
