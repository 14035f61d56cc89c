"""Losses past an account's collateral are shared by the positive balances, so every batch stays solvent.

Attack: an account sells calls, withdraws all its free collateral, and ETH gaps up twice before the
calls expire. The settlement takes its cash below zero. Committing that account at zero while its
counterparty is paid in full would commit more than the vault holds (the auditors' solvency check
fails, they veto, settlement stops); the committed balances share the deficit instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from darkpool.audit._checks import solvency
from darkpool.audit._data import fetch_chain
from darkpool.errors import MarginError
from darkpool.margin import share_deficits
from darkpool.operator.instruments import DEFAULT_OPTION_EXPIRY
from tests.derivatives.helpers import feed_world
from tests.derivatives.test_expiry import _audit_data, _traded

EXPIRY = DEFAULT_OPTION_EXPIRY

cash_books = st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(-10**6, 10**6), max_size=12)


@given(cash_books)
def test_share_deficits_when_total_cash_is_not_negative_then_adds_up_to_it_and_shares_pro_rata(
    cash: dict[str, int],
) -> None:
    if sum(cash.values()) < 0:
        with pytest.raises(MarginError, match="exceed"):
            share_deficits(cash)
        return
    shared = share_deficits(cash)
    deficit = -sum(c for c in cash.values() if c < 0)
    positive = sum(c for c in cash.values() if c > 0)
    assert set(shared) == set(cash) and all(v >= 0 for v in shared.values())
    assert sum(shared.values()) == (sum(cash.values()) if deficit else positive)
    for who, c in cash.items():
        if c <= 0:
            assert shared[who] == 0
        else:  # pays its pro-rata share of the deficit, to the unit
            assert abs((c - shared[who]) - c * deficit / positive) < 1
    assert share_deficits(dict(reversed(list(cash.items())))) == shared  # the order of accounts is irrelevant


@pytest.mark.anyio
@pytest.mark.attack
@pytest.mark.chain
async def test_batch_when_a_gap_move_bankrupts_a_short_at_expiry_then_stays_solvent(tmp_path: Path) -> None:
    world = feed_world(tmp_path, vault=True)
    long, short, _ = await _traded(world, "ETH-3000-C", 30_000)
    seller = world.people[1]
    free = world.core.margin.account_margin(short, world.clock.now).free_collateral
    await world.client(seller).withdraw(free)  # leaves the short call's initial margin and no more
    world.clock.now = EXPIRY - 40
    for price, stamp in ((3990.0, EXPIRY - 60), (4980.0, EXPIRY - 50)):  # two gaps, each inside the band
        world.post(price, stamp)
        assert await world.pull() == "ok"
    world.clock.now = EXPIRY + 100
    world.post(4980.0, EXPIRY + 90)
    assert await world.pull() == "ok"  # settles the calls at 4,980: 1,980 intrinsic per ETH
    cash = {who: world.core.margin.cash(who) for who in world.core.books.accounts()}
    assert cash[short] < 0, cash
    balances = world.core.balances()
    assert balances[short] == 0 and sum(balances.values()) == sum(cash.values())
    assert balances[long] < cash[long]  # the winner bears its share of the short's deficit
    batch = await world.admin.admin("POST", "/batches")
    assert batch["posted"] is True and batch["balances"] == {a: int(v) for a, v in balances.items()}
    data = await _audit_data(world)
    data.chain = fetch_chain(world.chain.w3, world.config.vault)
    check = solvency(data)
    assert check.ok is True, check
    world.start()  # replay gives the same committed balances
    assert world.core.balances() == balances
    world.close()


def test_shared_cash_when_any_cash_changes_then_recomputed_and_a_deposit_shrinks_the_shared_loss() -> None:
    from darkpool.domain import Account
    from darkpool.margin._state import AccountBook
    from darkpool.operator.instruments import default_instruments

    book = AccountBook(default_instruments(), 10**6)
    loser, winner, other = Account("0xa1"), Account("0xb2"), Account("0xc3")
    book.move_collateral(winner, 300)
    book.move_collateral(other, 100)
    assert book.shared_cash() is None  # no deficit: balances are the cash itself
    book.move_collateral(loser, -40)
    assert book.shared_cash() == {loser: 0, winner: 270, other: 90}
    assert book.shared_cash() is book.shared_cash()  # read again, not recomputed
    book.move_collateral(loser, 30)  # the bankrupt account pays in: less to share
    assert book.shared_cash() == {loser: 0, winner: 292, other: 98}
    book.move_collateral(loser, 10)
    assert book.shared_cash() is None
