"""Volatility surfaces: smiles per expiry, total variance interpolated, options priced from them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from darkpool.domain import Lots, Side, Ticks
from darkpool.errors import MarginError
from darkpool.margin import Smile, VolSurface, engine_from_snapshot, margin_snapshot

from .helpers import DAY, SPOT, T0, addr, engine, trade

A = addr(11)
PUT_OTM = "ETH-30D-2400-P"
CALL_ATM = "ETH-30D-3000-C"


def test_smile_when_at_the_money_then_atm_and_skew_tilts_the_wings() -> None:
    smile = Smile(T0 + 30 * DAY, 0.6, skew=-0.2, curvature=0.1)
    assert smile.vol(0.0) == 0.6
    assert smile.vol(math.log(0.8)) > 0.6 > smile.vol(math.log(1.1))  # puts richer than calls


@given(t=st.integers(31, 89))
def test_surface_when_between_expiries_then_total_variance_interpolates_linearly(t: int) -> None:
    surface = VolSurface.of([Smile(T0 + 90 * DAY, 0.5), Smile(T0 + 30 * DAY, 0.8)])
    vol = surface.vol(3000.0, SPOT, T0 + t * DAY, T0)
    expected = 0.8**2 * 30 + (0.5**2 * 90 - 0.8**2 * 30) * (t - 30) / 60
    assert vol == pytest.approx(math.sqrt(expected / t))
    assert surface.vol(3000.0, SPOT, T0 + 10 * DAY, T0) == 0.8  # before the first smile: flat
    assert surface.vol(3000.0, SPOT, T0 + 400 * DAY, T0) == 0.5  # after the last: flat


@pytest.mark.parametrize("smiles", [[], [Smile(T0, 0.5), Smile(T0, 0.6)]])
def test_surface_when_empty_or_repeated_expiry_then_refused(smiles: list[Smile]) -> None:
    with pytest.raises(MarginError):
        VolSurface.of(smiles)


def test_engine_when_flat_surface_then_margin_equals_per_symbol_vols_and_skew_prices_the_put_wing() -> None:
    flat, surfaced = engine(), engine()
    surfaced.set_vol_surface("ETH", VolSurface.of([Smile(T0 + 30 * DAY, 0.6), Smile(T0 + 90 * DAY, 0.6)]))
    for e in (flat, surfaced):
        e.deposit(A, 10**12)
        e.apply_fills([trade(A, PUT_OTM, Side.SELL, Lots(50), Ticks(2_000)),
                       trade(A, CALL_ATM, Side.BUY, Lots(20), Ticks(20_000))], T0)
    assert surfaced.account_margin(A, T0) == flat.account_margin(A, T0)
    skewed = engine()
    skewed.set_vol_surface("ETH", VolSurface.of([Smile(T0 + 30 * DAY, 0.6, skew=-0.5), Smile(T0 + 90 * DAY, 0.6)]))
    assert skewed.implied_vols(T0)[PUT_OTM] > 0.6 and skewed.implied_vols(T0)[CALL_ATM] == pytest.approx(0.6)
    skewed.deposit(A, 10**12)
    skewed.apply_fills([trade(A, PUT_OTM, Side.SELL, Lots(50), Ticks(2_000)),
                        trade(A, CALL_ATM, Side.BUY, Lots(20), Ticks(20_000))], T0)
    # A short put wing is riskier under a put skew: more initial margin than with the flat surface.
    assert skewed.account_margin(A, T0).initial_margin > flat.account_margin(A, T0).initial_margin
    rebuilt = engine_from_snapshot(margin_snapshot(skewed, [A], T0))  # auditors see the surface too
    assert rebuilt.account_margin(A, T0) == skewed.account_margin(A, T0)


def test_engine_when_mark_moves_then_surface_vols_follow_the_new_moneyness() -> None:
    e = engine()
    e.set_vol_surface("ETH", VolSurface.of([Smile(T0 + 30 * DAY, 0.6, skew=-0.5)]))
    before = e.implied_vols(T0)[CALL_ATM]
    e.set_mark("ETH", SPOT * 1.2, T0 + 1)
    assert e.implied_vols(T0 + 1)[CALL_ATM] > before  # the 3000 call is now in the money: lower strike vs spot
