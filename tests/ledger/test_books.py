"""The ledger's registries (deposits, withdrawals, fills) and balances read from the margin engine."""

from __future__ import annotations

import pytest

from darkpool.domain import Account, BaseUnits, Fill, Lots, OrderId, Side, Ticks
from darkpool.errors import PolicyViolation, ValidationError
from darkpool.ledger import Books, Deposit, Withdrawal
from darkpool.margin import MarginEngine
from darkpool.settlement.trees import BatchId, BatchInput, WithdrawalId, WithdrawalRecord, build_trees, fill_leaf
from tests.margin.helpers import INSTRUMENTS, T0, VOLS, addr

ALICE = Account("0x" + "aa" * 20)


def test_books_when_deposit_credited_twice_refuse_second() -> None:
    books = Books()
    books.credit(Deposit(1, ALICE, BaseUnits(10)))
    with pytest.raises(PolicyViolation):
        books.credit(Deposit(1, ALICE, BaseUnits(10)))
    assert list(books.deposits) == [1] and books.accounts() == [ALICE]


def test_books_when_deposit_not_positive_refuse_and_keep_state() -> None:
    books = Books()
    with pytest.raises(ValidationError):
        books.credit(Deposit(1, ALICE, BaseUnits(0)))
    assert books.deposits == {} and books.accounts() == []


def test_books_when_withdrawals_registered_then_batched_once() -> None:
    books = Books()
    with pytest.raises(ValidationError):
        books.debit(Withdrawal(1, ALICE, BaseUnits(0)))
    books.debit(Withdrawal(1, ALICE, BaseUnits(4)))
    with pytest.raises(PolicyViolation, match="increasing order"):
        books.debit(Withdrawal(1, ALICE, BaseUnits(4)))
    assert [w.batch_id for w in books.assign_batch(3)] == [3]
    assert books.assign_batch(4) == []
    assert books.withdrawals == [Withdrawal(1, ALICE, BaseUnits(4), 3)]


def test_books_when_fill_recorded_then_listed_per_account() -> None:
    books = Books()
    fill = Fill(2, OrderId("a:1"), ALICE, "ETH-PERP", Side.SELL, Lots(3), Ticks(300_000))
    books.record_fill(fill)
    with pytest.raises(ValidationError, match=r"domain\.Fill"):
        books.record_fill((2, ALICE, "ETH-PERP"))  # type: ignore[arg-type]
    assert books.fills == [fill] and books.fills_of(ALICE) == [fill] and books.fills_of(addr(1)) == []


# -- a fixed scenario whose batch trees were computed before the margin engine owned cash ------------
# Before this change the ledger kept its own balances (deposits - withdrawals + realized PnL pushed in
# from the margin engine - forfeited bonds); these roots were built from that path, and the one book
# of cash must commit the same leaves.

TOKEN = "0x" + "70" * 20
HEAD = "0x" + "ab" * 32
A, B, C = addr(0xA1), addr(0xB2), addr(0xC3)
ROUNDS = [
    (1, [(A, "a:1", Side.BUY, 10, 300_000), (B, "b:1", Side.SELL, 10, 300_000)]),
    (2, [(A, "a:2", Side.SELL, 4, 301_537), (C, "c:1", Side.BUY, 4, 301_537)]),
    (3, [(B, "b:2", Side.BUY, 3, 299_999), (C, "c:2", Side.SELL, 3, 299_999)]),
]
BALANCES_BEFORE = {A: 50_061_480, B: 39_000_030, C: 29_946_860}
BALANCES_ROOT_BEFORE = "0x9c6cbf5077e3e6a9ddf6446515ce7b1cbd24ef7ae684aa4bd9fead012b1ca3bc"
FILLS_ROOT_BEFORE = "0xa71ee64f71bf340709617f3731a45f7951aa7d22e78aa652fa4076566541f4b7"
WITHDRAWALS_ROOT_BEFORE = "0xc9f0d423fb24334d1c7eeeecac328b10e2dacfe42f1e4281880acdc64e9f6a03"


def test_batch_trees_when_margin_owns_cash_then_same_leaves_and_roots_as_before() -> None:
    books, margin = Books(), MarginEngine(INSTRUMENTS, implied_vols=VOLS)
    margin.set_mark("ETH", 3000.0, T0)
    margin.set_mark("BTC", 60_000.0, T0)
    for deposit_id, (holder, amount) in enumerate([(A, 50_000_000), (B, 40_000_000), (C, 30_000_000)], 1):
        books.credit(Deposit(deposit_id, holder, BaseUnits(amount)))
        margin.deposit(holder, amount)
    for round_id, round_fills in ROUNDS:
        fills = [Fill(round_id, OrderId(oid), holder, "ETH-PERP", side, Lots(q), Ticks(p))
                 for holder, oid, side, q, p in round_fills]
        margin.apply_fills(fills, T0)
        for fill in fills:
            books.record_fill(fill)
    margin.charge(C, 7_000)  # a forfeited bond
    margin.withdraw(B, 1_000_000, T0)
    books.debit(Withdrawal(1, B, BaseUnits(1_000_000)))

    balances = {a: BaseUnits(max(0, margin.cash(a))) for a in books.accounts()}  # as OperatorCore.balances
    assert balances == BALANCES_BEFORE
    batch = BatchInput(BatchId(1), TOKEN, balances, HEAD, len(books.deposits), tuple(books.fills),
                       tuple(WithdrawalRecord(WithdrawalId(w.withdrawal_id), w.account, w.amount)
                             for w in books.withdrawals))
    trees = build_trees(batch)
    assert sorted(trees.balances) == sorted((a, TOKEN, v) for a, v in BALANCES_BEFORE.items())
    assert trees.balances_root == BALANCES_ROOT_BEFORE
    assert trees.fills_root == FILLS_ROOT_BEFORE
    assert trees.withdrawals_root == WITHDRAWALS_ROOT_BEFORE
    assert [fill_leaf(f)[:2] for f in books.fills] == [(1, A), (1, B), (2, A), (2, C), (3, B), (3, C)]
