"""Losses past an account's collateral: shared pro rata by every account with a positive balance.

A gap move (an expiry settling far from the last mark, a liquidation that could not run in
time) can realize more loss than an account holds. Its cash goes negative; a batch cannot commit
a negative balance, and committing zero instead would owe its winners money nobody holds, so the
committed balances would exceed what the vault holds (the auditors' solvency check fails and they
veto). The rule here keeps every batch solvent: the accounts in deficit are committed at zero and
their total deficit ``D`` is taken from the positive balances in proportion to them (each pays
``floor(c · D / P)`` of ``P``, the positive total; the last units go one each to the largest
remainders, ties by account), so the committed balances add up to the books' total cash exactly.

The books are not rewritten: the rule is a pure function of the cash of every account, applied
wherever a balance is committed or withdrawn, so a later deposit or gain of the bankrupt account
reduces the shared loss again. There is no insurance fund yet (issue notes say so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from darkpool.errors import MarginError

__all__ = ["share_deficits"]

K = TypeVar("K", bound=str)


def share_deficits(cash: Mapping[K, int]) -> dict[K, int]:
    """Return each account's committable balance: its cash less its share of every deficit, never below zero.

    Raises :class:`MarginError` when the deficits exceed every positive balance together (the books'
    total cash is negative: more was paid out than came in, which no sharing can fix).
    """
    deficit = -sum(c for c in cash.values() if c < 0)
    positive = {a: c for a, c in cash.items() if c > 0}
    if deficit == 0:
        return {a: max(0, c) for a, c in cash.items()}
    total = sum(positive.values())
    if deficit > total:
        raise MarginError(f"deficits of {deficit} exceed the {total} every positive balance holds")
    shares = {a: c * deficit // total for a, c in positive.items()}
    left = deficit - sum(shares.values())
    # The units the floors left: one each to the largest remainders, ties by account.
    for a in sorted(positive, key=lambda a: (-(positive[a] * deficit % total), a))[:left]:
        shares[a] += 1
    return {a: c - shares[a] if c > 0 else 0 for a, c in cash.items()}
