"""Black-Scholes values and Greeks of European options, vectorized with NumPy.

Every function broadcasts its arguments. Time is in years and volatility per unit (0.2 is 20%);
theta is the change of value per year of calendar time. At or after expiry, or with zero
volatility, an option is worth its discounted intrinsic value and has the matching step delta.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

__all__ = ["FloatArray", "OptionGreeks", "option_greeks", "option_value"]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _live_inputs(
    spot: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    s, k, t, v = np.broadcast_arrays(
        np.asarray(spot, np.float64),
        np.asarray(strike, np.float64),
        np.asarray(years, np.float64),
        np.asarray(vol, np.float64),
    )
    live = (t > 0.0) & (v > 0.0)
    # Safe stand-ins keep dead elements free of warnings; np.where picks their real values later.
    return s, k, np.where(live, t, 1.0), np.where(live, v, 1.0), live


def _d1_d2(
    s: FloatArray, k: FloatArray, t: FloatArray, v: FloatArray, rate: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    sqrt_t = np.sqrt(t)
    d1 = (np.log(s / k) + (rate + 0.5 * v * v) * t) / (v * sqrt_t)
    return d1, d1 - v * sqrt_t, sqrt_t


def option_value(
    spot: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike, rate: float, is_call: ArrayLike
) -> FloatArray:
    """Return the Black-Scholes value of European calls (``is_call``) or puts."""
    s, k, t, v, live = _live_inputs(spot, strike, years, vol)
    call = np.broadcast_to(np.asarray(is_call, np.bool_), s.shape)
    discount = np.exp(-rate * np.where(live, t, np.maximum(np.asarray(years, np.float64), 0.0)))
    d1, d2, _ = _d1_d2(s, k, t, v, rate)
    k_disc = k * discount
    call_value = s * ndtr(d1) - k_disc * ndtr(d2)
    put_value = k_disc * ndtr(-d2) - s * ndtr(-d1)
    value = np.where(call, call_value, put_value)
    intrinsic = np.where(call, np.maximum(s - k_disc, 0.0), np.maximum(k_disc - s, 0.0))
    return np.asarray(np.where(live, value, intrinsic), np.float64)


class OptionGreeks:
    """Per-unit Greeks of European options: ``delta``, ``gamma``, ``vega`` (per 1.00 of vol), ``theta``."""

    __slots__ = ("delta", "gamma", "theta", "vega")

    def __init__(self, delta: FloatArray, gamma: FloatArray, vega: FloatArray, theta: FloatArray) -> None:
        self.delta = delta
        self.gamma = gamma
        self.vega = vega
        self.theta = theta


def option_greeks(
    spot: ArrayLike, strike: ArrayLike, years: ArrayLike, vol: ArrayLike, rate: float, is_call: ArrayLike
) -> OptionGreeks:
    """Return the Black-Scholes delta, gamma, vega and theta (per year) of European options."""
    s, k, t, v, live = _live_inputs(spot, strike, years, vol)
    call = np.broadcast_to(np.asarray(is_call, np.bool_), s.shape)
    d1, d2, sqrt_t = _d1_d2(s, k, t, v, rate)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    k_disc = k * np.exp(-rate * t)
    delta = np.where(call, ndtr(d1), ndtr(d1) - 1.0)
    gamma = pdf / (s * v * sqrt_t)
    vega = s * pdf * sqrt_t
    decay = -s * pdf * v / (2.0 * sqrt_t)
    theta = np.where(call, decay - rate * k_disc * ndtr(d2), decay + rate * k_disc * ndtr(-d2))
    years_left = np.maximum(np.asarray(years, np.float64), 0.0)
    k_dead = k * np.exp(-rate * years_left)
    step = np.where(call, (s > k_dead).astype(np.float64), -(s < k_dead).astype(np.float64))
    zero = np.zeros_like(s)
    return OptionGreeks(
        delta=np.asarray(np.where(live, delta, step), np.float64),
        gamma=np.asarray(np.where(live, gamma, zero), np.float64),
        vega=np.asarray(np.where(live, vega, zero), np.float64),
        theta=np.asarray(np.where(live, theta, zero), np.float64),
    )
