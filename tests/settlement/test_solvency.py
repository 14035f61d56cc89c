"""Stateful property on both chains: the vault's tokens always cover the committed liabilities.

Liabilities are what users can take out without the operator: the last final balances of
accounts that have not escaped, final withdrawals not yet claimed, and deposits that no final batch
credited (reclaimable after a freeze). The operator here is honest and every batch becomes final
after its challenge window, so the two are equal.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from darkpool.settlement import BatchInput, SettlementBatcher, WithdrawalProof, WithdrawalRecord
from tests.settlement.conftest import GRACE_PERIOD_S, Deployment

pytestmark = pytest.mark.chain

HEAD = "0x" + "ee" * 32


def _machine(d: Deployment) -> type[RuleBasedStateMachine]:
    users = [u.lower() for u in d.users]

    class Solvency(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = d.chain.snapshot()
            self.batcher = SettlementBatcher(d.vault, d.operator)
            self.start = d.token.balance_of(d.vault.address)
            self.deposits: list[tuple[int, str, int]] = []
            self.ledger = dict.fromkeys(users, 0)
            self.credited = 0
            self.committed: dict[str, int] = {}
            self.open_claims: dict[int, WithdrawalProof] = {}
            self.next_withdrawal = 1
            self.batch_id = 0
            self.frozen = False
            self.escaped: set[str] = set()
            self.reclaimed: set[int] = set()

        def teardown(self) -> None:
            d.chain.revert(self.snapshot)

        @precondition(lambda self: not self.frozen)
        @rule(user=st.integers(0, 2), amount=st.integers(1, 10**6))
        def deposit(self, user: int, amount: int) -> None:
            d.vault.deposit(d.users[user], amount)
            self.deposits.append((len(self.deposits) + 1, users[user], amount))

        @rule(src=st.integers(0, 2), dst=st.integers(0, 2), share=st.floats(0, 1))
        def trade(self, src: int, dst: int, share: float) -> None:
            moved = int(self.ledger[users[src]] * share)
            self.ledger[users[src]] -= moved
            self.ledger[users[dst]] += moved

        @precondition(lambda self: not self.frozen)
        @rule(shares=st.lists(st.floats(0, 1), min_size=3, max_size=3))
        def settle(self, shares: list[float]) -> None:
            for deposit_id, holder, amount in self.deposits[self.credited :]:
                self.ledger[holder] += amount
                assert deposit_id > self.credited
            self.credited = len(self.deposits)
            withdrawals = []
            for holder, share in zip(users, shares, strict=True):
                amount = int(self.ledger[holder] * share)
                if amount:
                    self.ledger[holder] -= amount
                    withdrawals.append(WithdrawalRecord(self.next_withdrawal, holder, amount))
                    self.next_withdrawal += 1
            self.batch_id += 1
            self.batcher.settle(
                BatchInput(
                    self.batch_id, d.token.address, dict(self.ledger), HEAD, self.credited, (), tuple(withdrawals)
                )
            )
            d.finalize(self.batch_id)
            self.committed = dict(self.ledger)
            for w in withdrawals:
                (proof,) = [p for p in self.batcher.withdrawal_proofs(w.account) if p.withdrawal_id == w.withdrawal_id]
                self.open_claims[w.withdrawal_id] = proof

        @precondition(lambda self: bool(self.open_claims))
        @rule(data=st.data())
        def claim(self, data: Any) -> None:
            wid = data.draw(st.sampled_from(sorted(self.open_claims)))
            p = self.open_claims.pop(wid)
            d.vault.claim_withdrawal(d.outsider, p.batch_id, p.withdrawal_id, p.account, p.amount, p.proof)

        @precondition(lambda self: not self.frozen)
        @rule(user=st.integers(0, 2))
        def force_and_freeze(self, user: int) -> None:
            d.vault.request_forced_withdrawal(d.users[user])
            d.chain.advance_time(GRACE_PERIOD_S + 1)
            d.vault.freeze(d.outsider, d.users[user])
            self.frozen = True

        @precondition(lambda self: self.frozen and bool(set(self.committed) - self.escaped))
        @rule(data=st.data())
        def escape(self, data: Any) -> None:
            holder = data.draw(st.sampled_from(sorted(set(self.committed) - self.escaped)))
            p = self.batcher.balance_proof(holder)
            assert p.amount == self.committed[holder]
            d.vault.escape(d.outsider, holder, p.amount, p.proof)
            self.escaped.add(holder)

        @precondition(lambda self: self.frozen and len(self.deposits) > self.credited + len(self.reclaimed))
        @rule()
        def reclaim(self) -> None:
            deposit_id, holder, amount = next(x for x in self.deposits[self.credited :] if x[0] not in self.reclaimed)
            d.vault.reclaim_deposit(d.outsider, deposit_id, holder, amount)
            self.reclaimed.add(deposit_id)

        @invariant()
        def tokens_cover_liabilities(self) -> None:
            balances = sum(v for k, v in self.committed.items() if k not in self.escaped)
            claims = sum(p.amount for p in self.open_claims.values())
            uncredited = sum(a for i, _, a in self.deposits[self.credited :] if i not in self.reclaimed)
            held = d.token.balance_of(d.vault.address) - self.start
            assert held >= balances + claims + uncredited
            assert held == balances + claims + uncredited  # an honest operator is exactly solvent

    return Solvency


def test_vault_when_any_sequence_of_actions_then_tokens_cover_liabilities(deployed: Deployment) -> None:
    run_state_machine_as_test(
        _machine(deployed), settings=settings(max_examples=8, stateful_step_count=12, deadline=None)
    )
