"""Properties: unrevealed commitments vanish from clearing; any sequence of actions keeps the books straight."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from commit_reveal import BondState, Phase, Reveal, SealedOrder
from darkpool.clearing import clear_reference
from darkpool.domain import Lots, Order, OrderId, Side, Ticks
from darkpool.errors import DarkPoolError
from tests.commit_reveal.helpers import BOND, MARKET, SCHEDULE, Clock, new_round, seal_order

orders = st.tuples(st.sampled_from(Side), st.integers(299_988, 300_011), st.integers(1, 50))


def _order(sealed: SealedOrder, priority: int) -> Order:
    r = sealed.reveal
    return Order(OrderId(f"{r.account}:{r.nonce}"), r.side, r.limit_ticks, Lots(r.quantity_lots), priority)


@settings(max_examples=25)
@given(st.lists(st.tuples(orders, st.booleans()), max_size=10))
def test_clear_when_any_subset_reveals_equals_reference_without_the_rest(
    book: list[tuple[tuple[Side, int, int], bool]],
) -> None:
    clock = Clock(SCHEDULE.commit_opens_at)
    round_ = new_round(clock)
    sealed = [seal_order(i + 1, side, limit, qty) for i, ((side, limit, qty), _) in enumerate(book)]
    round_.commit_many([s.signed for s in sealed]).raise_first()
    clock.now = SCHEDULE.commit_closes_at
    round_.seal()
    shown = [s for s, (_, reveals) in zip(sealed, book, strict=True) if reveals]
    round_.reveal_many([s.reveal for s in shown]).raise_first()
    clock.now = SCHEDULE.reveal_closes_at
    result = round_.clear()
    priority = {s.reveal.key: i for i, s in enumerate(sealed)}
    assert result == clear_reference(MARKET, [_order(s, priority[s.reveal.key]) for s in shown])
    assert round_.bonds.total(BondState.FORFEITED) == BOND * (len(sealed) - len(shown))
    assert round_.bonds.total(BondState.RETURNED) == BOND * len(shown)


class RoundMachine(RuleBasedStateMachine):
    """Honest and dishonest actions in any order: a refused action changes nothing, books balance."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(SCHEDULE.commit_opens_at)
        self.round = new_round(self.clock)
        self.sealed: list[SealedOrder] = []
        self.next_client = 1

    def _attempt(self, action: object) -> bool:
        before = self.round.snapshot()
        try:
            action()  # type: ignore[operator]
        except DarkPoolError:
            assert self.round.snapshot() == before
            return False
        return True

    @rule(order=orders, bond=st.sampled_from([BOND, BOND - 1]))
    def commit(self, order: tuple[Side, int, int], bond: int) -> None:
        sealed = seal_order(self.next_client, *order, bond=bond)
        self.next_client += 1
        if self._attempt(lambda: self.round.commit(sealed.signed)):
            self.sealed.append(sealed)

    @precondition(lambda self: self.sealed)
    @rule(index=st.integers(0, 50))
    def replay_commit(self, index: int) -> None:
        assert not self._attempt(lambda: self.round.commit(self.sealed[index % len(self.sealed)].signed))

    @rule(seconds=st.sampled_from([1, 50, 100]))
    def advance(self, seconds: int) -> None:
        self.clock.now = min(self.clock.now + seconds, SCHEDULE.reveal_closes_at + 10)

    @rule()
    def seal(self) -> None:
        self._attempt(self.round.seal)

    @precondition(lambda self: self.sealed)
    @rule(index=st.integers(0, 50), tamper=st.booleans())
    def reveal(self, index: int, tamper: bool) -> None:
        reveal: Reveal = self.sealed[index % len(self.sealed)].reveal
        if tamper:
            reveal = dataclasses.replace(reveal, limit_ticks=Ticks(reveal.limit_ticks + 1))
        accepted = self._attempt(lambda: self.round.reveal(reveal))
        assert not (accepted and tamper)

    @rule()
    def clear(self) -> None:
        self._attempt(self.round.clear)

    @invariant()
    def books_balance(self) -> None:
        bonds = self.round.bonds
        states = [bonds.total(s) for s in BondState]
        assert sum(states) == BOND * len(self.round.commitments())
        revealed = [c for c in self.round.commitments() if self.round.reveal_of((c.account, c.nonce))]
        if self.round.phase is Phase.CLEARED:
            assert bonds.total(BondState.POSTED) == 0
            assert bonds.total(BondState.FORFEITED) == BOND * (len(self.round.commitments()) - len(revealed))
            result = self.round.result
            assert result is not None
            assert list(result.fills) == [c.order_id for c in revealed]
            assert result == clear_reference(MARKET, list(self.round.cleared_orders))
        else:
            assert bonds.total(BondState.RETURNED) == BOND * len(revealed)


TestRoundMachine = RoundMachine.TestCase
TestRoundMachine.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
