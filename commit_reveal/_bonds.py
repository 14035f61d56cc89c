"""The bond ledger: a bond posted per commitment, returned on reveal, forfeited if unrevealed."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from commit_reveal._commitment import CommitKey
from darkpool.domain import Account, BaseUnits
from darkpool.errors import ProtocolError

__all__ = ["Bond", "BondLedger", "BondState"]


class BondState(enum.Enum):
    POSTED = "posted"
    RETURNED = "returned"
    FORFEITED = "forfeited"


class Bond(NamedTuple):
    account: Account
    amount: BaseUnits
    state: BondState


@dataclass(slots=True)
class BondLedger:
    """Bonds by commitment. Every bond leaves ``POSTED`` exactly once, to returned or forfeited."""

    _amounts: dict[CommitKey, BaseUnits] = field(default_factory=dict)
    _states: dict[CommitKey, BondState] = field(default_factory=dict)
    _held: dict[BondState, dict[Account, int]] = field(default_factory=lambda: {s: {} for s in BondState})
    """Per state and account, the sum of its bonds: the operator reads it on every commit."""

    def post(self, key: CommitKey, amount: int) -> None:
        self.post_many([key], [amount])

    def post_many(self, keys: Iterable[CommitKey], amounts: Iterable[int]) -> None:
        """Post several bonds; raise before changing anything if one is already posted."""
        new = dict(zip(keys, map(BaseUnits, amounts), strict=True))
        clash = next((key for key in new if key in self._states), None)
        if clash is not None:
            raise ProtocolError(f"a bond is already posted for commitment {clash}")
        self._amounts.update(new)
        self._states.update(dict.fromkeys(new, BondState.POSTED))
        self._move(new, None, BondState.POSTED)

    def _move(self, keys: Iterable[CommitKey], before: BondState | None, after: BondState) -> None:
        amounts, taken, given = self._amounts, None if before is None else self._held[before], self._held[after]
        for key in keys:
            amount = amounts[key]
            if amount:
                holder = key[0]
                if taken is not None:
                    taken[holder] -= amount
                given[holder] = given.get(holder, 0) + amount

    def _settle(self, keys: Iterable[CommitKey], state: BondState) -> None:
        keys = list(keys)
        states, posted = self._states, BondState.POSTED
        for key in keys:
            if states.get(key) is not posted:
                raise ProtocolError(f"no posted bond for commitment {key}")
        states.update(dict.fromkeys(keys, state))
        self._move(keys, posted, state)

    def release(self, key: CommitKey) -> None:
        """Return a posted bond to its account."""
        self._settle([key], BondState.RETURNED)

    def release_many(self, keys: Iterable[CommitKey]) -> None:
        """Return several posted bonds; raise before changing anything if one is not posted."""
        self._settle(keys, BondState.RETURNED)

    def forfeit(self, key: CommitKey) -> None:
        """Keep a posted bond: its commitment was never revealed."""
        self._settle([key], BondState.FORFEITED)

    def forfeit_many(self, keys: Iterable[CommitKey]) -> None:
        """Keep several posted bonds; raise before changing anything if one is not posted."""
        self._settle(keys, BondState.FORFEITED)

    def get(self, key: CommitKey) -> Bond | None:
        state = self._states.get(key)
        return None if state is None else Bond(key[0], self._amounts[key], state)

    def total(self, state: BondState) -> BaseUnits:
        """Sum of the bonds in ``state``."""
        amounts = self._amounts
        return BaseUnits(sum(amounts[k] for k, s in self._states.items() if s is state))

    def held(self, account: Account, state: BondState = BondState.POSTED) -> BaseUnits:
        """Sum of ``account``'s bonds in ``state`` (posted: locked in running rounds)."""
        return BaseUnits(self._held[state].get(account, 0))

    def by_account(self, state: BondState) -> dict[Account, BaseUnits]:
        """Sum of the bonds in ``state`` per account."""
        out: dict[Account, BaseUnits] = {}
        for key, s in self._states.items():
            if s is state:
                out[key[0]] = BaseUnits(out.get(key[0], 0) + self._amounts[key])
        return out

    def snapshot(self) -> tuple[tuple[CommitKey, Bond], ...]:
        """An immutable copy of every entry, for comparing states."""
        return tuple((k, Bond(k[0], self._amounts[k], s)) for k, s in self._states.items())

    def __len__(self) -> int:
        return len(self._states)
