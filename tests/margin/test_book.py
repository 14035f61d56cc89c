"""Post-trade bookkeeping: average entry, realized PnL and fees, rounded against the account."""

from __future__ import annotations

from fractions import Fraction

import pytest

from darkpool.domain import Fill, Lots, OrderId, Side, Ticks
from darkpool.errors import MarginError, ValidationError
from darkpool.margin import MarginConfig

from .helpers import T0, addr, engine, trade

A = addr(7)


def fill(side: Side, lots: int, price: int, symbol: str = "ETH-PERP") -> Fill:
    return trade(A, symbol, side, lots, price)


def test_apply_when_two_buys_then_average_entry_is_size_weighted() -> None:
    e = engine()
    e.apply_fills([fill(Side.BUY, 3, 300_000), fill(Side.BUY, 1, 300_100)], T0)
    (position,) = e.positions(A)
    assert position.lots == 4 and position.average_entry_ticks == Fraction(1_200_100, 4)


def test_apply_when_partially_closed_then_realized_pnl_floored_and_entry_kept() -> None:
    e = engine()
    # One tick on one lot is 0.01 * 0.001 * 10**6 = 10 base units.
    e.apply_fills([fill(Side.BUY, 3, 300_000), fill(Side.BUY, 1, 300_001)], T0)
    e.apply_fills([fill(Side.SELL, 1, 300_000)], T0)
    _, realized, _ = e.balances(A)
    assert realized == -3  # exact loss 2.5 base units, rounded against the account
    (position,) = e.positions(A)
    assert position.lots == 3 and position.average_entry_ticks == Fraction(1_200_001, 4)


def test_apply_when_position_flips_then_closed_part_realized_and_rest_opens_at_fill_price() -> None:
    e = engine()
    e.apply_fills([fill(Side.BUY, 2, 300_000), fill(Side.SELL, 5, 301_000)], T0)
    _, realized, _ = e.balances(A)
    assert realized == 2 * 1000 * 10
    (position,) = e.positions(A)
    assert position.lots == -3 and position.average_entry_ticks == 301_000


def test_apply_when_fee_rate_then_fee_rounded_up_and_charged_to_balance() -> None:
    e = engine()
    e.deposit(A, 1_000_000)
    e.apply_fills([fill(Side.BUY, 1, 300_001)], T0, fee_rate=0.0005)
    collateral, _, fees = e.balances(A)
    assert fees == 1501  # 3_000_010 * 0.0005 = 1500.005, rounded up
    assert e.cash(A) == collateral - fees
    assert e.account_margin(A, T0).equity == collateral - fees + (300_000 - 300_001) * 10


def test_apply_when_no_fee_rate_given_then_config_rate_is_charged() -> None:
    e = engine(MarginConfig(fee_rate=0.0005))
    e.deposit(A, 1_000_000)
    e.apply_fills([fill(Side.BUY, 1, 300_001)], T0)
    assert e.balances(A)[2] == 1501
    assert e.cash(A) == 1_000_000 - 1501


def test_apply_when_closed_flat_then_no_position_and_equity_is_cash() -> None:
    e = engine()
    e.deposit(A, 5_000_000)
    e.apply_fills([fill(Side.SELL, 4, 300_500), fill(Side.BUY, 4, 300_000)], T0)
    assert e.positions(A) == []
    report = e.account_margin(A, T0)
    assert report.equity == 5_000_000 + 4 * 500 * 10 and report.initial_margin == 0


@pytest.mark.parametrize(("lots", "price"), [(0, 1), (-1, 1), (1, -1), (True, 1), (1, 1.0)])
def test_fill_when_malformed_then_rejected(lots: int, price: int) -> None:
    with pytest.raises(ValidationError):
        Fill(1, OrderId("o"), A, "ETH-PERP", Side.BUY, Lots(lots), Ticks(price))


@pytest.mark.parametrize("fee", [-0.1, float("nan")])
def test_apply_when_fee_rate_malformed_then_rejected_and_nothing_applied(fee: float) -> None:
    e = engine()
    e.deposit(A, 1_000_000)
    with pytest.raises(MarginError):
        e.apply_fills([fill(Side.BUY, 1, 300_000)], T0, fee_rate=fee)
    assert e.positions(A) == [] and e.cash(A) == 1_000_000


def test_apply_when_unknown_instrument_then_rejected_and_nothing_applied() -> None:
    e = engine()
    with pytest.raises(MarginError, match="unknown instrument"):
        e.apply_fills([fill(Side.BUY, 1, 300_000), fill(Side.BUY, 1, 1, symbol="SOL-PERP")], T0)
    with pytest.raises(MarginError, match="unknown account"):
        e.positions(A)
