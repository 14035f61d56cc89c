"""The books the journal replays into: deposits, withdrawals, fills, positions and cash.

Pure state: every method either changes the books completely or raises and changes nothing.
Balances are token base units; positions are signed lots (long positive).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from darkpool.domain import Account, BaseUnits, Lots, Side, Ticks
from darkpool.errors import PolicyViolation, ValidationError

__all__ = ["BookFill", "Books", "Deposit", "Withdrawal"]


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


@dataclass(frozen=True, slots=True)
class BookFill:
    """One account's fill of one order in a round."""

    round_id: int
    account: Account
    instrument: str
    order_id: str
    side: Side
    quantity_lots: Lots
    price_ticks: Ticks


@dataclass(slots=True)
class Books:
    """Deposits, withdrawals, fills, net positions and realized cash per account."""

    deposits: dict[int, Deposit] = field(default_factory=dict)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    fills: list[BookFill] = field(default_factory=list)
    positions: dict[tuple[Account, str], int] = field(default_factory=lambda: defaultdict(int))
    realized: dict[Account, int] = field(default_factory=lambda: defaultdict(int))
    _deposited: dict[Account, int] = field(default_factory=lambda: defaultdict(int))
    _withdrawn: dict[Account, int] = field(default_factory=lambda: defaultdict(int))

    def credit(self, deposit: Deposit) -> None:
        """Credit an on-chain deposit once; a second credit of the same id is refused."""
        if deposit.deposit_id in self.deposits:
            raise PolicyViolation(f"deposit {deposit.deposit_id} was already credited")
        if deposit.amount <= 0:
            raise ValidationError(f"deposit amount must be positive, got {deposit.amount}")
        self.deposits[deposit.deposit_id] = deposit
        self._deposited[deposit.account] += deposit.amount

    def debit(self, withdrawal: Withdrawal) -> None:
        """Debit a withdrawal if the account's balance covers it."""
        if withdrawal.amount <= 0:
            raise ValidationError(f"withdrawal amount must be positive, got {withdrawal.amount}")
        have = self.balance(withdrawal.account)
        if withdrawal.amount > have:
            raise PolicyViolation(f"withdrawal of {withdrawal.amount} exceeds balance {have} of {withdrawal.account}")
        self.withdrawals.append(withdrawal)
        self._withdrawn[withdrawal.account] += withdrawal.amount

    def assign_batch(self, batch_id: int) -> list[Withdrawal]:
        """Put every unbatched withdrawal into ``batch_id``; return them."""
        taken: list[Withdrawal] = []
        for i, w in enumerate(self.withdrawals):
            if w.batch_id is None:
                self.withdrawals[i] = Withdrawal(w.withdrawal_id, w.account, w.amount, batch_id)
                taken.append(self.withdrawals[i])
        return taken

    def record_fill(self, fill: BookFill) -> None:
        """Record a fill and move the account's net position."""
        if fill.quantity_lots <= 0:
            raise ValidationError(f"fill quantity must be positive, got {fill.quantity_lots}")
        self.fills.append(fill)
        self.positions[(fill.account, fill.instrument)] += fill.side.sign * fill.quantity_lots

    def set_realized(self, account: Account, amount: int) -> None:
        """Set the realized PnL net of fees of ``account`` (from the margin engine's books)."""
        self.realized[account] = amount

    def balance(self, account: Account) -> BaseUnits:
        """Deposits minus withdrawals plus realized cash, floored at zero."""
        net = self._deposited.get(account, 0) - self._withdrawn.get(account, 0) + self.realized.get(account, 0)
        return BaseUnits(max(0, net))

    def accounts(self) -> list[Account]:
        """Every account that ever deposited, sorted."""
        return sorted(self._deposited)

    def balances(self) -> dict[Account, BaseUnits]:
        return {a: self.balance(a) for a in self.accounts()}

    def position(self, account: Account, instrument: str) -> int:
        return self.positions.get((account, instrument), 0)

    def fills_of(self, account: Account) -> list[BookFill]:
        return [f for f in self.fills if f.account == account]
