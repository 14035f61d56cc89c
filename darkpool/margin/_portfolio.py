"""Portfolio margin over accounts x instruments x scenarios, and its plain-Python twin.

``positions`` is a dense accounts x instruments matrix of signed lots. Per underlying, an
account's PnL in core scenario ``s`` is ``positions @ core_pnl`` over that underlying's
instruments; in extended scenario ``e`` it is ``min(positions, 0) @ extended_pnl`` (short option
legs only). The scenario loss is the sum over underlyings of each one's worst loss (never below
zero), less the credits of correlated underlyings when the config sets correlations
(:mod:`darkpool.margin._offsets`); initial margin adds ``|positions| @ floor``; maintenance is
the configured fraction of initial, rounded up. Equity is the integer balance plus each
position's unrealized PnL rounded down. All results are integers held in float64, so the
vectorized and loop versions agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from darkpool.margin._black_scholes import FloatArray
from darkpool.margin._offsets import correlated_loss, correlated_loss_one
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
    """Return each account's PnL per underlying and scenario (accounts x underlyings x scenarios)."""
    groups = len(risk.underlyings)
    core = (positions @ risk.core_block).reshape(len(positions), groups, -1)
    extended = (np.minimum(positions, 0.0) @ risk.extended_block).reshape(len(positions), groups, -1)
    return np.concatenate([core, extended], axis=2)


def portfolio_margin(
    positions: FloatArray, cost: FloatArray, balance: FloatArray, risk: RiskArrays, maintenance_fraction: float
) -> MarginArrays:
    """Compute margin for every row of ``positions`` (signed lots) with ``cost`` basis and ``balance``.

    Fastest when ``positions`` and ``cost`` are transposed views of instrument-major storage,
    as :class:`~darkpool.margin._state.AccountBook` keeps them: the reductions over scenarios
    and instruments then run along contiguous memory.
    """
    held = positions.T
    accounts = held.shape[1]
    if accounts == 0:  # no account yet: empty margin, not a reshape of nothing
        empty = np.zeros(0)
        return MarginArrays(empty, empty.copy(), empty.copy(), empty.copy())
    groups = len(risk.underlyings)
    core_pnl = (risk.core_block.T @ held).reshape(groups, -1, accounts)
    extended = (risk.extended_block.T @ np.minimum(held, 0.0)).reshape(groups, -1, accounts).min(axis=1)
    if risk.offsets:
        by_move = core_pnl.reshape(groups, -1, 3, accounts).min(axis=2)  # worst volatility shift per move
        worst = np.minimum(by_move.min(axis=1), extended)
        loss_per_underlying = np.maximum(-worst, 0.0)
        worst_loss = correlated_loss(loss_per_underlying, worst, extended, by_move, risk.offsets)
    else:
        loss_per_underlying = np.maximum(-np.minimum(core_pnl.min(axis=1), extended), 0.0)
        worst_loss = loss_per_underlying[0] if groups == 1 else loss_per_underlying.sum(axis=0)
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
    group = risk.group.tolist()
    n_core = risk.core_pnl.shape[1]
    n_ext = risk.extended_pnl.shape[1]
    out: list[tuple[float, float, float]] = []
    for row, cost_row, cash in zip(positions, cost, balance, strict=True):
        losses: list[float] = []
        worsts: list[float] = []
        extended_worsts: list[float] = []
        by_moves: list[list[float]] = []
        for g in range(len(risk.underlyings)):
            held = [(i, q) for i, q in enumerate(row) if q != 0.0 and group[i] == g]
            pnl = [sum(q * core[i][s] for i, q in held) for s in range(n_core)]
            extended_worst = min((sum(q * extended[i][e] for i, q in held if q < 0.0) for e in range(n_ext)),
                                 default=0.0)
            worst = min(min(pnl), extended_worst)
            losses.append(max(-worst, 0.0))
            if risk.offsets:
                worsts.append(worst)
                extended_worsts.append(extended_worst)
                by_moves.append([min(pnl[s:s + 3]) for s in range(0, n_core, 3)])
        loss = float(correlated_loss_one(losses, worsts, extended_worsts, by_moves, risk.offsets) if risk.offsets
                     else sum(losses))
        initial = loss + sum(abs(q) * floor[i] for i, q in enumerate(row) if q != 0.0)
        maintenance = float(math.ceil(initial * maintenance_fraction))
        equity = cash + sum(math.floor(q * mark_value[i] - cost_row[i]) for i, q in enumerate(row))
        out.append((float(equity), initial, maintenance))
    return out
