"""Pre-trade caps: the largest fill an account can take without free collateral going negative.

Within a range of quantities where the traded position keeps its sign, every scenario's PnL, the
floor and equity are linear in the quantity, so free collateral is concave and piecewise linear
with at most one kink (where a reducing order flips the position). :func:`estimate_cap` solves
the linear constraints per scenario in closed form; :func:`refine_cap` then makes the answer exact
for the engine's own integer model with a galloping search on the exact check, so that the cap
passes and one more lot fails. Cross-underlying offsets (:mod:`darkpool.margin._offsets`) keep
margin convex but are left out of the estimate, which then only places the search's start.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from darkpool.domain import Side
from darkpool.margin._black_scholes import FloatArray
from darkpool.margin._portfolio import scenario_pnl
from darkpool.margin._scenarios import RiskArrays

__all__ = ["estimate_cap", "refine_cap"]


def _segments(lots: float, sign: int, upper: int) -> list[tuple[int, int]]:
    if lots * sign < 0 and abs(lots) < upper:
        flip = int(abs(lots))
        return [(0, flip), (flip, upper)]
    return [(0, upper)]


def estimate_cap(
    row: FloatArray,
    equity: float,
    column: int,
    side: Side,
    price_ticks: int,
    fee_rate: float,
    threshold: float,
    upper: int,
    risk: RiskArrays,
) -> int:
    """Estimate the largest ``q <= upper`` keeping free collateral at or above ``threshold``.

    ``row`` holds the account's positions and ``equity`` its equity before the fill. Exact up to
    the rounding of integer base units; :func:`refine_cap` settles the last lots.
    """
    sign = side.sign
    trade_value = price_ticks * float(risk.tick_value[column])
    equity_slope = sign * (float(risk.mark_value[column]) - trade_value) - fee_rate * trade_value
    core = risk.core_pnl[column]
    extended = risk.extended_pnl[column]
    floor = float(risk.floor[column])
    start_lots = float(row[column])
    group = int(risk.group[column])
    for lo, hi in _segments(start_lots, sign, upper):
        at_lo = row.copy()
        at_lo[column] = start_lots + sign * lo
        inside = at_lo[column] + 0.5 * sign  # sign of the position strictly inside the segment
        pnl_by_underlying = scenario_pnl(at_lo[None, :], risk)[0]
        losses = np.maximum(-pnl_by_underlying.min(axis=1), 0.0)
        # Other underlyings' worst losses do not move with this order's quantity.
        fixed = equity + equity_slope * lo - float(np.abs(at_lo) @ risk.floor) - float(losses.sum() - losses[group])
        pnl = pnl_by_underlying[group]
        pnl_slope = np.concatenate([sign * core, sign * extended if inside < 0 else np.zeros_like(extended)])
        floor_slope = floor if inside * sign > 0 else -floor
        alpha = np.append(fixed + pnl - threshold, fixed - threshold)
        beta = np.append(equity_slope - floor_slope + pnl_slope, equity_slope - floor_slope)
        if np.any(alpha < 0):
            return max(lo - 1, 0)
        falling = beta < 0
        room = float(np.min(alpha[falling] / -beta[falling])) if np.any(falling) else math.inf
        if room < hi - lo:
            return lo + math.floor(room)
    return upper


def refine_cap(passes: Callable[[int], bool], guess: int, upper: int) -> int:
    """Return the largest ``q <= upper`` with ``passes(q)``, assuming ``passes`` holds on ``[0, q]``.

    ``passes(0)`` must hold. Starts from ``guess`` and gallops, so a good guess costs two checks.
    """
    q = min(max(guess, 0), upper)
    step = 1
    if passes(q):
        lo = q
        while lo + step <= upper and passes(lo + step):
            lo += step
            step *= 2
        hi = min(lo + step, upper + 1)
    else:
        hi = q
        while hi - step > 0 and not passes(hi - step):
            hi -= step
            step *= 2
        lo = max(hi - step, 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return lo
