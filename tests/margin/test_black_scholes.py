"""Black-Scholes against published values, parity and finite differences."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.margin import option_greeks, option_value

spots = st.floats(50.0, 200.0)
strikes = st.floats(50.0, 200.0)
years = st.floats(0.05, 2.0)
vols = st.floats(0.1, 1.5)
rates = st.floats(0.0, 0.1)


def test_price_when_hull_example_then_call_4_76_and_put_0_81() -> None:
    # Hull, Options, Futures and Other Derivatives, example 15.6 (S=42, K=40, r=10%, sigma=20%, T=0.5).
    assert round(float(option_value(42, 40, 0.5, 0.2, 0.1, True)), 2) == 4.76
    assert round(float(option_value(42, 40, 0.5, 0.2, 0.1, False)), 2) == 0.81


def test_greeks_when_hull_delta_example_then_match_published() -> None:
    # Hull example 19.1: S=49, K=50, r=5%, sigma=20%, T=20 weeks: call delta 0.522.
    g = option_greeks(49, 50, 20 / 52, 0.2, 0.05, True)
    assert round(float(g.delta), 3) == 0.522
    # Hull examples 19.4/19.6/19.7 for the same option: gamma 0.066, vega 12.1, theta -4.31 per year.
    assert round(float(g.gamma), 3) == 0.066
    assert round(float(g.vega), 1) == 12.1
    assert round(float(g.theta), 2) == -4.31


@given(spots, strikes, years, vols, rates)
def test_price_when_any_inputs_then_put_call_parity_holds(s: float, k: float, t: float, v: float, r: float) -> None:
    call = float(option_value(s, k, t, v, r, True))
    put = float(option_value(s, k, t, v, r, False))
    assert math.isclose(call - put, s - k * math.exp(-r * t), abs_tol=1e-9 * max(s, k))


@settings(max_examples=60)
@given(spots, strikes, years, vols, rates, st.booleans())
def test_greeks_when_any_inputs_then_match_finite_differences(
    s: float, k: float, t: float, v: float, r: float, call: bool
) -> None:
    g = option_greeks(s, k, t, v, r, call)
    h_s, h_v, h_t = s * 1e-4, 1e-5, 1e-6

    def price(s_: float = s, t_: float = t, v_: float = v) -> float:
        return float(option_value(s_, k, t_, v_, r, call))

    delta = (price(s + h_s) - price(s - h_s)) / (2 * h_s)
    gamma = (price(s + h_s) - 2 * price() + price(s - h_s)) / (h_s * h_s)
    vega = (price(v_=v + h_v) - price(v_=v - h_v)) / (2 * h_v)
    theta = -(price(t_=t + h_t) - price(t_=t - h_t)) / (2 * h_t)
    assert math.isclose(float(g.delta), delta, abs_tol=1e-6)
    assert math.isclose(float(g.gamma), gamma, rel_tol=1e-3, abs_tol=1e-5)
    assert math.isclose(float(g.vega), vega, rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(float(g.theta), theta, rel_tol=1e-4, abs_tol=1e-4)


def test_price_when_expired_then_intrinsic_and_step_delta() -> None:
    value = option_value([110.0, 90.0], 100.0, 0.0, 0.5, 0.0, [True, False])
    assert value.tolist() == [10.0, 10.0]
    assert option_greeks([110.0, 90.0], 100.0, -1.0, 0.5, 0.0, [True, True]).delta.tolist() == [1.0, 0.0]


def test_price_when_vectorized_then_equals_scalar_calls() -> None:
    s = np.array([90.0, 100.0, 110.0])
    vec = option_value(s, 100.0, 0.25, 0.4, 0.01, True)
    assert vec.tolist() == [float(option_value(x, 100.0, 0.25, 0.4, 0.01, True)) for x in s]
