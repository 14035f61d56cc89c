"""Portfolio margin over accounts x instruments x scenarios, and its plain-Python twin.

``positions`` is a dense accounts x instruments matrix of signed lots. An account's PnL in core
scenario ``s`` is ``positions @ core_pnl``; in extended scenario ``e`` it is
``min(positions, 0) @ extended_pnl`` (short option legs only). Initial margin is the worst
scenario loss (never below zero) plus ``|positions| @ floor``; maintenance is the configured
fraction of initial, rounded up. Equity is the integer balance plus each position's unrealized
PnL rounded down. All results are integers held in float64, so the vectorized and loop versions
agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from darkpool.margin._black_scholes import FloatArray
from darkpool.margin._scenarios import RiskArrays

__all__ = ["MarginArrays", "portfolio_margin", "portfolio_margin_loop", "scenario_pnl"]


@dataclass(frozen=True, slots=True)
class MarginArrays:
    """Per account, in base units: ``equity``, ``initial``, ``maintenance`` and ``worst_loss``."""

    equity: FloatArray
    initial: FloatArray
    maintenance: FloatArray
    worst_loss: FloatArray

    @property
    def free_collateral(self) -> FloatArray:
        return np.asarray(self.equity - self.initial, np.float64)


def scenario_pnl(positions: FloatArray, risk: RiskArrays) -> FloatArray:
    """Return each account's PnL in every scenario (accounts x scenarios, base units)."""
    core = positions @ risk.core_pnl
    extended = np.minimum(positions, 0.0) @ risk.extended_pnl
    return np.concatenate([core, extended], axis=1)


def portfolio_margin(
    positions: FloatArray, cost: FloatArray, balance: FloatArray, risk: RiskArrays, maintenance_fraction: float
) -> MarginArrays:
    """Compute margin for every row of ``positions`` (signed lots) with ``cost`` basis and ``balance``.

    Fastest when ``positions`` and ``cost`` are transposed views of instrument-major storage,
    as :class:`~darkpool.margin._state.AccountBook` keeps them: the reductions over scenarios
    and instruments then run along contiguous memory.
    """
    held = positions.T
    core = risk.core_pnl.T @ held
    extended = risk.extended_pnl.T @ np.minimum(held, 0.0)
    worst_loss = np.maximum(-np.minimum(core.min(axis=0), extended.min(axis=0)), 0.0)
    initial = worst_loss + risk.floor @ np.abs(held)
    maintenance = np.ceil(initial * maintenance_fraction)
    unrealized = held * risk.mark_value[:, None]
    unrealized -= cost.T
    equity = balance + np.floor(unrealized, out=unrealized).sum(axis=0)
    return MarginArrays(equity, initial, maintenance, worst_loss)


def portfolio_margin_loop(
    positions: Sequence[Sequence[float]],
    cost: Sequence[Sequence[float]],
    balance: Sequence[float],
    risk: RiskArrays,
    maintenance_fraction: float,
) -> list[tuple[float, float, float]]:
    """Compute ``(equity, initial, maintenance)`` account by account in plain Python."""
    core = risk.core_pnl.tolist()
    extended = risk.extended_pnl.tolist()
    floor = risk.floor.tolist()
    mark_value = risk.mark_value.tolist()
    n_core = risk.core_pnl.shape[1]
    n_ext = risk.extended_pnl.shape[1]
    out: list[tuple[float, float, float]] = []
    for row, cost_row, cash in zip(positions, cost, balance, strict=True):
        held = [(i, q) for i, q in enumerate(row) if q != 0.0]
        worst = 0.0
        for s in range(n_core):
            worst = min(worst, sum(q * core[i][s] for i, q in held))
        for e in range(n_ext):
            worst = min(worst, sum(q * extended[i][e] for i, q in held if q < 0.0))
        initial = -worst + sum(abs(q) * floor[i] for i, q in held)
        maintenance = float(math.ceil(initial * maintenance_fraction))
        equity = cash + sum(math.floor(q * mark_value[i] - cost_row[i]) for i, q in enumerate(row))
        out.append((float(equity), initial, maintenance))
    return out
