"""Random operator histories replay to the same state (issue 16: apply cannot fail, replay never fails).

A seeded driver throws a mixed stream of valid and invalid requests at the operator core —
deposits (some beyond uint256), marks (some while the clock steps back), commit-reveal rounds
with commitments, cancels, seals, reveals (some wrong), clears (some with a stale mark),
abandons and withdrawals. Every refused request must leave the journal as it was; at the end a
fresh core replays the journal to exactly the same state.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from commit_reveal import Committer
from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from darkpool.ledger import Journal, SqliteStore
from darkpool.margin import MarginConfig
from darkpool.operator import rounds_cr
from darkpool.operator.core import OperatorCore
from darkpool.operator.events import Mode
from darkpool.operator.instruments import DEFAULT_VOLS, default_instruments
from darkpool.operator.state import CommitRevealState, CoreConfig
from darkpool.signing import SigningDomain, WithdrawalRequest, sign

DOMAIN = SigningDomain(31337, "0x" + "5e" * 20)
TOKEN = "0x" + "70" * 20
KEYS = [bytes([i + 1]) * 32 for i in range(4)]


def _core(path: Path, clock: list[int]) -> OperatorCore:
    config = CoreConfig(DOMAIN, TOKEN, default_instruments(), b"\x09" * 32, MarginConfig(mark_max_age_s=30),
                        DEFAULT_VOLS)
    return OperatorCore(Journal(SqliteStore(str(path))), config, lambda: clock[0])


def _snapshot(core: OperatorCore) -> dict[str, Any]:
    rounds = []
    for state in core.rounds.values():
        summary = state.summary()
        if isinstance(state, CommitRevealState):
            summary["bonds"] = [(c.account, c.nonce, c.bond) for c in state.machine.commitments()]
        rounds.append(summary)
    return {"rounds": rounds, "balances": core.balances(), "fills": list(core.books.fills),
            "withdrawals": list(core.books.withdrawals), "bonds": core.bonds.snapshot(),
            "positions": {a: core.margin.positions(a) for a in core.margin.accounts},
            "forfeited": dict(core.forfeited), "head": core.journal.head, "seq": core.journal.seq}


class _Driver:
    def __init__(self, core: OperatorCore, clock: list[int], rng: random.Random) -> None:
        self.core, self.clock, self.rng = core, clock, rng
        self.committers = [Committer(k, DOMAIN, "ETH-PERP", 0) for k in KEYS]
        self.sealed: list[Any] = []
        self.nonce = 1
        self.deposits = 0
        self.opened: set[tuple[str, int]] = set()

    def step(self) -> None:
        core, rng = self.core, self.rng
        action = rng.choices(["deposit", "mark", "open", "commit", "seal", "reveal", "clear", "abandon",
                              "withdraw", "time"], weights=[2, 2, 1, 8, 2, 6, 2, 1, 1, 3])[0]
        running = self._running()
        if running is not None and rng.random() < 0.6:  # mostly what the phase calls for, sometimes not
            action = {"commit": "commit", "sealing": "seal", "reveal": "reveal", "clearing": "clear"}.get(
                running.phase.value, action)
        if action == "deposit":
            who = self.committers[rng.randrange(4)].account
            amount = rng.choice([10**9, 10**12, 0, 2**256, -5])
            core.credit_deposit(self.deposits + 1, who, amount)
            self.deposits += 1
        elif action == "mark":
            core.set_mark("ETH", rng.choice([3000.0, 3100.0, 2900.0, -1.0, float("nan")]))
        elif action == "open":
            core.open_round(Mode.COMMIT_REVEAL, "ETH-PERP", 300_000, 299_996, 8, commit_s=10, reveal_s=10,
                            bond=rng.choice([0, 100]))
        elif action == "time":
            self.clock[0] += rng.choice([-3, 1, 2, 4, 6])
        else:
            state = self._running()
            if state is None:
                return
            self._round_action(action, state)

    def _running(self) -> CommitRevealState | None:
        open_ = [s for s in self.core.rounds.values()
                 if isinstance(s, CommitRevealState) and s.phase.value not in ("cleared", "cancelled")]
        return open_[-1] if open_ else None

    def _round_action(self, action: str, state: CommitRevealState) -> None:
        core, rng, rid = self.core, self.rng, state.round_id
        if action == "commit":
            committer = self.committers[rng.randrange(4)]
            side = Side.BUY if self.nonce % 2 else Side.SELL
            sealed = Committer(KEYS[self.committers.index(committer)], DOMAIN, "ETH-PERP", rid).seal(
                side, rng.randint(299_990, 300_010), rng.randint(1, 50), nonce=self.nonce,
                expiry=self.clock[0] + 60, bond=state.bond + rng.choice([0, 0, 10**30]))
            self.nonce += 1
            self.sealed.append((rid, sealed))
            rounds_cr.commit(core, rid, sealed.signed)
        elif action == "seal":
            rounds_cr.seal(core, rid)
        elif action == "reveal":
            mine = [s for r, s in self.sealed if r == rid and s.reveal.key not in self.opened]
            if mine:
                opening = rng.choice(mine).reveal
                if rng.random() < 0.2:
                    opening = type(opening)(opening.account, opening.nonce, opening.side, opening.limit_ticks,
                                            opening.quantity_lots + 1, opening.salt)
                _, rejected = rounds_cr.reveal_many(core, rid, [opening])
                if not rejected:
                    self.opened.add(opening.key)
        elif action == "clear":
            rounds_cr.clear_round(core, rid)
        elif action == "abandon":
            if rng.random() < 0.2:
                core.abandon_round(rid, "random history")
        elif action == "withdraw":
            key = KEYS[rng.randrange(4)]
            who = self.committers[KEYS.index(key)].account
            message = WithdrawalRequest(who, TOKEN, rng.choice([1, 10**6, 10**20]), self.nonce, self.clock[0] + 60)
            self.nonce += 1
            core.request_withdrawal(sign(message, DOMAIN, key))


@pytest.mark.attack
@pytest.mark.parametrize("seed", range(6))
def test_random_history_when_replayed_then_same_state_and_refusals_left_no_trace(tmp_path: Path, seed: int) -> None:
    clock = [1_800_000_000]
    path = tmp_path / "journal.db"
    core = _core(path, clock)
    driver = _Driver(core, clock, random.Random(seed))
    refused = 0
    for _ in range(400):
        before = core.journal.seq
        try:
            driver.step()
        except DarkPoolError:
            refused += 1
            assert core.journal.seq == before  # a refusal journals nothing
        assert core.healthy
    core.journal.flush()
    assert refused > 0 and core.journal.seq > 10 and any(e.kind == "commits" for e in core.journal.entries())
    expected = _snapshot(core)
    core.journal.close()
    again = _core(path, clock)
    assert _snapshot(again) == expected
    again.journal.close()
