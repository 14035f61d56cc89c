"""The margin engine as the one book of cash: deposits, fills, fees, charges and withdrawals."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Account, Side
from darkpool.errors import MarginError
from darkpool.margin import MarginConfig, MarginEngine

from .helpers import INSTRUMENTS, T0, addr, engine, trade

A, B = addr(11), addr(12)


def test_cash_when_account_never_seen_then_zero() -> None:
    assert engine().cash(A) == 0


def test_charge_when_bond_forfeited_then_collateral_debited_even_below_free_collateral() -> None:
    e = engine()
    e.deposit(A, 1_000)
    e.apply_fills([trade(A, "ETH-PERP", Side.BUY, 1, 300_000)], T0)
    e.charge(A, 5_000)
    assert e.cash(A) == 1_000 - 5_000
    assert e.balances(A) == (-4_000, 0, 0)
    assert e.account_margin(A, T0).equity == -4_000


def test_charge_when_account_new_then_opened_with_negative_cash() -> None:
    e = engine()
    e.charge(B, 7)
    assert e.cash(B) == -7 and B in e.accounts


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "3"])
def test_charge_when_not_positive_integer_then_refused_and_nothing_changes(amount: object) -> None:
    e = engine()
    e.deposit(A, 100)
    with pytest.raises(MarginError, match="charge must be a positive integer"):
        e.charge(A, amount)  # type: ignore[arg-type]
    assert e.cash(A) == 100


def test_settle_expired_when_config_has_fee_rate_then_settlement_pays_none() -> None:
    e = engine(MarginConfig(fee_rate=0.001))
    e.deposit(A, 10**9)
    e.apply_fills([trade(A, "ETH-F90", Side.BUY, 2, 300_000)], T0)
    fees_before = e.balances(A)[2]
    assert fees_before == math.ceil(2 * 300_000 * 10 * Fraction("0.001"))
    expiry = T0 + 90 * 86_400
    e.set_mark("ETH", 3000.0, expiry)
    e.set_mark("BTC", 60_000.0, expiry)
    (closing,) = e.settle_expired(expiry)
    assert closing.round_id == 0 and closing.side is Side.SELL and closing.quantity_lots == 2
    assert e.balances(A)[2] == fees_before


# -- the cash the engine books equals an exact recomputation by another method ---------------------

ACCOUNTS = [addr(n) for n in range(1, 4)]
SYMBOLS = ["ETH-PERP", "ETH-30D-3000-C", "BTC-PERP"]
TICK_VALUE = {  # base units per tick per lot: tick_size * lot_size * multiplier * 10**6
    "ETH-PERP": Fraction(1, 100) * Fraction(1, 1000) * 10**6,
    "ETH-30D-3000-C": Fraction(1, 100) * Fraction(1, 1000) * 10**6,
    "BTC-PERP": Fraction(1, 10) * Fraction(1, 10_000) * 10**6,
}
PRICE = {"ETH-PERP": 300_000, "ETH-30D-3000-C": 12_000, "BTC-PERP": 600_000}

deposit = st.tuples(st.just("deposit"), st.sampled_from(ACCOUNTS), st.integers(1, 10**9))
forfeit = st.tuples(st.just("forfeit"), st.sampled_from(ACCOUNTS), st.integers(1, 10**6))
withdraw = st.tuples(st.just("withdraw"), st.sampled_from(ACCOUNTS), st.integers(1, 10**9))
fill = st.tuples(
    st.just("fill"), st.sampled_from(ACCOUNTS),
    st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(list(Side)), st.integers(1, 40), st.integers(-500, 500),
              st.sampled_from(["0", "0.0003", "0.001"])),
)
steps = st.lists(st.one_of(deposit, forfeit, withdraw, fill), max_size=40)


class Model:
    """Cash by another method: a signed position and a total cost per instrument, fees per fill."""

    def __init__(self) -> None:
        self.cash: dict[Account, Fraction] = {}
        self.held: dict[tuple[Account, str], tuple[int, Fraction]] = {}

    def move(self, holder: Account, amount: int) -> None:
        self.cash[holder] = self.cash.get(holder, Fraction(0)) + amount

    def fill(self, holder: Account, symbol: str, side: Side, lots: int, price: int, rate: Fraction) -> None:
        value = price * TICK_VALUE[symbol]
        self.move(holder, -math.ceil(lots * value * rate))
        held, cost = self.held.get((holder, symbol), (0, Fraction(0)))
        signed = lots if side is Side.BUY else -lots
        if held and (held > 0) != (signed > 0):
            closed = min(abs(signed), abs(held))
            entry = cost / abs(held)
            pnl = closed * (value - entry) if held > 0 else closed * (entry - value)
            self.move(holder, math.floor(pnl))
            cost -= entry * closed
            held += closed if held < 0 else -closed
            signed += -closed if signed > 0 else closed
        self.held[(holder, symbol)] = (held + signed, cost + abs(signed) * value)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_cash_when_random_deposits_fills_forfeits_withdrawals_then_equals_exact_recomputation(
    sequence: list[tuple[str, Account, object]],
) -> None:
    e = MarginEngine(INSTRUMENTS, implied_vols={i.symbol: 0.6 for i in INSTRUMENTS if i.is_option})
    e.set_mark("ETH", 3000.0, T0)
    e.set_mark("BTC", 60_000.0, T0)
    model = Model()
    for kind, holder, arg in sequence:
        if kind == "deposit":
            assert isinstance(arg, int)
            e.deposit(holder, arg)
            model.move(holder, arg)
        elif kind == "forfeit":
            assert isinstance(arg, int)
            e.charge(holder, arg)
            model.move(holder, -arg)
        elif kind == "withdraw":
            assert isinstance(arg, int)
            before = e.cash(holder)
            try:
                e.withdraw(holder, arg, T0)
            except MarginError:
                assert e.cash(holder) == before  # refused: nothing moved
            else:
                model.move(holder, -arg)
        else:
            assert isinstance(arg, tuple)
            symbol, side, lots, offset, rate = arg
            price = PRICE[symbol] + offset
            e.apply_fills([trade(holder, symbol, side, lots, price)], T0, fee_rate=float(rate))
            model.fill(holder, symbol, side, lots, price, Fraction(rate))
    for holder in ACCOUNTS:
        assert e.cash(holder) == model.cash.get(holder, 0)
        collateral, realized, fees = e.balances(holder) if holder in e.accounts else (0, 0, 0)
        assert e.cash(holder) == collateral + realized - fees
        positions = {p.instrument: p.lots for p in e.positions(holder)} if holder in e.accounts else {}
        assert positions == {s: held for (h, s), (held, _) in model.held.items() if h == holder and held}
