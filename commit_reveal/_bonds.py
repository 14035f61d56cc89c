"""The bond ledger: a bond posted per commitment, returned on reveal, forfeited if unrevealed."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from commit_reveal._commitment import CommitKey
from darkpool.domain import Account, BaseUnits
from darkpool.errors import ProtocolError

__all__ = ["Bond", "BondLedger", "BondState"]


class BondState(enum.Enum):
    POSTED = "posted"
    RETURNED = "returned"
    FORFEITED = "forfeited"


@dataclass(frozen=True, slots=True)
class Bond:
    account: Account
    amount: BaseUnits
    state: BondState


@dataclass(slots=True)
class BondLedger:
    """Bonds by commitment. Every change moves a bond out of ``POSTED`` exactly once."""

    _bonds: dict[CommitKey, Bond] = field(default_factory=dict)

    def post(self, key: CommitKey, amount: int) -> None:
        if key in self._bonds:
            raise ProtocolError(f"a bond is already posted for commitment {key}")
        self._bonds[key] = Bond(key[0], BaseUnits(amount), BondState.POSTED)

    def post_many(self, keys: Iterable[CommitKey], amounts: Iterable[int]) -> None:
        """Post several bonds; the caller has checked that none is posted yet."""
        posted = BondState.POSTED
        self._bonds.update({k: Bond(k[0], BaseUnits(a), posted) for k, a in zip(keys, amounts, strict=True)})

    def _settle(self, key: CommitKey, state: BondState) -> None:
        bond = self._bonds.get(key)
        if bond is None or bond.state is not BondState.POSTED:
            raise ProtocolError(f"no posted bond for commitment {key}")
        self._bonds[key] = Bond(bond.account, bond.amount, state)

    def release(self, key: CommitKey) -> None:
        """Return a posted bond to its account."""
        self._settle(key, BondState.RETURNED)

    def forfeit(self, key: CommitKey) -> None:
        """Keep a posted bond: its commitment was never revealed."""
        self._settle(key, BondState.FORFEITED)

    def get(self, key: CommitKey) -> Bond | None:
        return self._bonds.get(key)

    def total(self, state: BondState) -> BaseUnits:
        """Sum of the bonds in ``state``."""
        return BaseUnits(sum(b.amount for b in self._bonds.values() if b.state is state))

    def by_account(self, state: BondState) -> dict[Account, BaseUnits]:
        """Sum of the bonds in ``state`` per account."""
        out: dict[Account, BaseUnits] = {}
        for bond in self._bonds.values():
            if bond.state is state:
                out[bond.account] = BaseUnits(out.get(bond.account, 0) + bond.amount)
        return out

    def snapshot(self) -> tuple[tuple[CommitKey, Bond], ...]:
        """An immutable copy of every entry, for comparing states."""
        return tuple(self._bonds.items())

    def __len__(self) -> int:
        return len(self._bonds)
