"""A round's life: phases from the clock, bonds, seal and receipts, reveals, caps, clearing."""

from __future__ import annotations

import pytest

from commit_reveal import (
    BondState,
    CommitRevealRound,
    ParallelRecoverer,
    Phase,
    Reveal,
    audit_publication,
    publish,
    verify_receipt,
)
from darkpool.clearing import clear_reference
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.domain import Lots, Order, OrderId, Side, Ticks
from darkpool.errors import DarkPoolError, InvalidProof, InvalidSignature
from darkpool.signing import SigningDomain
from tests.commit_reveal.helpers import (
    BOND,
    DOMAIN,
    MARKET,
    ROUND_ID,
    SCHEDULE,
    Clock,
    Settlement,
    config,
    new_round,
    seal_order,
)

BOOK = [  # (client, side, limit, quantity)
    (1, Side.BUY, 300_004, 12),
    (2, Side.SELL, 299_995, 7),
    (3, Side.SELL, 300_000, 9),
    (4, Side.BUY, 299_999, 5),
    (5, Side.BUY, 300_010, 3),
]


def _committed(clock: Clock, **kwargs: object) -> tuple[CommitRevealRound, list[Reveal]]:
    round_ = new_round(clock, **kwargs)  # type: ignore[arg-type]
    clock.now = SCHEDULE.commit_opens_at
    sealed = [seal_order(n, side, limit, qty) for n, side, limit, qty in BOOK]
    round_.commit_many([s.signed for s in sealed]).raise_first()
    return round_, [s.reveal for s in sealed]


def _expected(reveals: list[Reveal], caps: dict[int, int] | None = None) -> list[Order]:
    """The orders the reveals stand for, capped, without those capped to nothing."""
    quantities = [min(r.quantity_lots, (caps or {}).get(i, r.quantity_lots)) for i, r in enumerate(reveals)]
    return [
        Order(OrderId(f"{r.account}:{r.nonce}"), r.side, r.limit_ticks, Lots(q), i)
        for i, (r, q) in enumerate(zip(reveals, quantities, strict=True)) if q > 0
    ]


def test_phase_when_clock_advances_moves_open_commit_sealing_reveal_clearing_cleared() -> None:
    clock = Clock()
    round_ = new_round(clock)
    assert round_.phase is Phase.OPEN
    clock.now = SCHEDULE.commit_opens_at
    assert round_.phase is Phase.COMMIT
    clock.now = SCHEDULE.commit_closes_at
    assert round_.phase is Phase.SEALING
    round_.seal()
    assert round_.phase is Phase.REVEAL
    clock.now = SCHEDULE.reveal_closes_at
    assert round_.phase is Phase.CLEARING
    round_.clear()
    assert round_.phase is Phase.CLEARED


def test_round_when_all_reveal_clears_like_reference_and_returns_bonds() -> None:
    clock = Clock()
    settlement = Settlement()
    round_, reveals = _committed(clock, settle=settlement)
    assert round_.bonds.total(BondState.POSTED) == BOND * len(BOOK)
    clock.now = SCHEDULE.commit_closes_at
    seal = round_.seal()
    assert settlement.sealed == {ROUND_ID: seal.root}
    leaves = [(c.account, c.nonce, c.commitment) for c in round_.commitments()]
    assert seal.root == StandardMerkleTree.of(leaves, ["address", "uint64", "bytes32"]).root_bytes
    round_.reveal_many(reveals).raise_first()
    clock.now = SCHEDULE.reveal_closes_at
    result = round_.clear()
    assert result == clear_reference(MARKET, _expected(reveals))
    assert result.volume_lots > 0
    assert round_.bonds.total(BondState.RETURNED) == BOND * len(BOOK)
    assert round_.bonds.total(BondState.POSTED) == 0


def test_round_when_some_never_reveal_forfeits_their_bonds_and_clears_as_if_absent() -> None:
    clock = Clock()
    round_, reveals = _committed(clock)
    clock.now = SCHEDULE.commit_closes_at
    round_.seal()
    kept = [reveals[0], reveals[2], reveals[4]]
    round_.reveal_many(kept).raise_first()
    with pytest.raises(DarkPoolError):  # not everyone revealed: clearing waits for the deadline
        round_.clear()
    clock.now = SCHEDULE.reveal_closes_at
    result = round_.clear()
    absent = [o for o in _expected(reveals) if o.id in {f"{r.account}:{r.nonce}" for r in kept}]
    assert result == clear_reference(MARKET, absent)
    assert list(result.fills) == [o.id for o in absent]
    forfeited = round_.bonds.by_account(BondState.FORFEITED)
    assert forfeited == {reveals[1].account: BOND, reveals[3].account: BOND}
    assert round_.bonds.total(BondState.RETURNED) == 3 * BOND


def test_clear_when_everyone_revealed_before_deadline_clears_early() -> None:
    clock = Clock()
    round_, reveals = _committed(clock)
    clock.now = SCHEDULE.commit_closes_at
    round_.seal()
    round_.reveal_many(reveals).raise_first()
    assert round_.clear() == clear_reference(MARKET, _expected(reveals))


def test_reveal_when_cap_is_set_trades_at_most_the_cap() -> None:
    clock = Clock()
    seen: list[tuple[str, Side, int, int]] = []

    def cap(account: str, side: Side, limit: Ticks, quantity: Lots) -> int:
        seen.append((account, side, limit, quantity))
        return {0: 4, 1: 0}.get(len(seen) - 1, 10**9)

    round_, reveals = _committed(clock, cap=cap)
    clock.now = SCHEDULE.commit_closes_at
    round_.seal()
    round_.reveal_many(reveals).raise_first()
    result = round_.clear()
    expected = _expected(reveals, caps={0: 4, 1: 0})
    assert result == clear_reference(MARKET, expected)
    assert seen[0] == (reveals[0].account, Side.BUY, 300_004, 12)
    assert round_.reveal_of(reveals[0].key).quantity_lots == 4  # type: ignore[union-attr]
    assert round_.bonds.total(BondState.RETURNED) == BOND * len(BOOK)


def test_receipt_when_sealed_verifies_for_every_committer_and_fails_when_tampered() -> None:
    clock = Clock()
    round_, reveals = _committed(clock)
    clock.now = SCHEDULE.commit_closes_at
    seal = round_.seal()
    operator = config().operator
    for r in reveals:
        receipt = round_.receipt(r.account, r.nonce)
        verify_receipt(receipt, domain=DOMAIN, operator=operator)
        assert receipt.statement.commitments_root == seal.root
        assert StandardMerkleTree.verify(seal.root, ["address", "uint64", "bytes32"], receipt.leaf, receipt.proof)
    receipt = round_.receipt(reveals[0].account, reveals[0].nonce)
    from dataclasses import replace

    with pytest.raises(InvalidSignature):
        verify_receipt(receipt, domain=DOMAIN, operator="0x" + "11" * 20)
    with pytest.raises(InvalidProof):
        verify_receipt(replace(receipt, nonce=99), domain=DOMAIN, operator=operator)
    with pytest.raises(InvalidProof):
        verify_receipt(replace(receipt, tree_index=receipt.tree_index + 1), domain=DOMAIN, operator=operator)
    forged = replace(receipt.statement, commitment_count=99)
    with pytest.raises(InvalidSignature):
        verify_receipt(replace(receipt, sealed=replace(receipt.sealed, message=forged)), domain=DOMAIN,
                       operator=operator)


def test_seal_when_settlement_fails_stays_unsealed_and_can_retry() -> None:
    clock = Clock()
    settlement = Settlement(fail=True)
    round_, _ = _committed(clock, settle=settlement)
    clock.now = SCHEDULE.commit_closes_at
    before = round_.snapshot()
    with pytest.raises(RuntimeError):
        round_.seal()
    assert round_.snapshot() == before
    settlement.fail = False
    round_.seal()
    assert round_.phase is Phase.REVEAL


def test_round_when_no_commitments_seals_zero_root_without_settlement_and_clears_empty() -> None:
    clock = Clock(SCHEDULE.commit_closes_at)
    settlement = Settlement()
    round_ = new_round(clock, settle=settlement)
    assert round_.seal().root == bytes(32)
    assert settlement.sealed == {}
    clock.now = SCHEDULE.reveal_closes_at
    result = round_.clear()
    assert (result.price_ticks, result.volume_lots, result.fills) == (None, 0, {})
    assert audit_publication(publish(round_)) == result


def test_cancel_when_committed_returns_every_bond_and_refuses_later_actions() -> None:
    clock = Clock()
    round_, reveals = _committed(clock)
    round_.cancel()
    assert round_.phase is Phase.CANCELLED
    assert round_.bonds.total(BondState.RETURNED) == BOND * len(BOOK)
    clock.now = SCHEDULE.commit_closes_at
    for action in (round_.seal, round_.cancel, round_.clear, lambda: round_.reveal(reveals[0])):
        with pytest.raises(DarkPoolError):
            action()


def test_publication_when_cleared_replays_to_the_same_result_and_detects_tampering() -> None:
    clock = Clock()
    round_, reveals = _committed(clock)
    clock.now = SCHEDULE.commit_closes_at
    round_.seal()
    round_.reveal_many(reveals[:4]).raise_first()
    clock.now = SCHEDULE.reveal_closes_at
    result = round_.clear()
    publication = publish(round_)
    assert audit_publication(publication) == result
    assert [c["revealed"] for c in publication["commitments"]] == [True, True, True, True, False]

    import copy

    tampered = copy.deepcopy(publication)
    tampered["reveals"][0]["limit_ticks"] += 1
    tampered["document"]["orders"][0]["limit_ticks"] += 1
    with pytest.raises(DarkPoolError):
        audit_publication(tampered)
    dropped = copy.deepcopy(publication)
    del dropped["commitments"][4]
    with pytest.raises(InvalidProof):
        audit_publication(dropped)
    skewed = copy.deepcopy(publication)
    skewed["result"]["volume_lots"] += 1
    with pytest.raises(DarkPoolError):
        audit_publication(skewed)


def test_commit_many_when_recovery_runs_in_worker_processes_matches_serial() -> None:
    sealed = [seal_order(n, quantity=n) for n in range(1, 41)]
    sealed[7] = seal_order(8, nonce=2, domain=SigningDomain(31337, "0x" + "77" * 20))
    states = []
    with ParallelRecoverer(processes=2, chunk=8) as pool:
        for recoverer in (pool, None):
            clock = Clock(SCHEDULE.commit_opens_at)
            round_ = CommitRevealRound(config(), clock=clock, recoverer=recoverer)
            outcome = round_.commit_many([s.signed for s in sealed])
            assert list(outcome.rejected) == [7]
            states.append(round_.snapshot())
    assert states[0] == states[1]
