"""Incremental liquidation: the smallest proportional cut that restores health without adding risk.

For an account under maintenance, each round cuts every position towards zero by a fraction from
the ladder ``step, 2·step, 4·step, …, 1``, each position by at least one lot, at a limit price
``liquidation_slippage`` through the mark. The plan chosen is the first cut whose initial margin
does not exceed the current one and after which equity covers maintenance, assuming the orders
fill at their limits; when none does, everything is closed. Closing everything needs no margin,
so a plan never adds risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from darkpool.domain import Account, Instrument, Lots, Side, Ticks
from darkpool.margin._config import MarginConfig
from darkpool.margin._portfolio import portfolio_margin
from darkpool.margin._reports import LiquidationOrder
from darkpool.margin._scenarios import RiskArrays
from darkpool.margin._state import AccountBook, HypotheticalFill

__all__ = ["liquidation_ladder", "plan_liquidation"]


def liquidation_ladder(step: float) -> list[float]:
    """Return the cut fractions tried in order, ending with 1 (close everything)."""
    ladder = []
    fraction = step
    while fraction < 1.0:
        ladder.append(fraction)
        fraction *= 2.0
    return [*ladder, 1.0]


def _limit_ticks(instrument: Instrument, mark_price: float, side: Side, slippage: float) -> Ticks:
    through = mark_price * (1.0 + slippage * side.sign) / instrument.tick_size
    ticks = math.ceil(through) if side is Side.BUY else math.floor(through)
    return Ticks(max(ticks, 0))


def plan_liquidation(
    account: Account,
    book: AccountBook,
    instruments: Sequence[Instrument],
    risk: RiskArrays,
    config: MarginConfig,
) -> list[LiquidationOrder]:
    """Return the reduce-only orders for ``account`` this round (empty when it holds nothing)."""
    row = book.row(account)
    lots = book.positions[row]
    held = [int(c) for c in np.flatnonzero(lots)]
    if not held:
        return []
    now_margin = portfolio_margin(
        lots[None, :], book.cost[row][None, :], book.balance[row : row + 1], risk, config.maintenance_fraction
    )
    initial_now = float(now_margin.initial[0])
    sides = {c: Side.SELL if lots[c] > 0 else Side.BUY for c in held}
    limits = {c: _limit_ticks(instruments[c], float(risk.mark_price[c]), sides[c], config.liquidation_slippage)
              for c in held}
    chosen: list[HypotheticalFill] = []
    for fraction in liquidation_ladder(config.liquidation_step):
        fills = [
            HypotheticalFill(c, sides[c], min(abs(int(lots[c])), max(1, math.ceil(fraction * abs(lots[c])))),
                             limits[c], Fraction(0))
            for c in held
        ]
        pos, cost, cash = book.hypothetical(row, fills)
        after = portfolio_margin(
            pos[None, :], cost[None, :], np.array([cash]), risk, config.maintenance_fraction
        )
        chosen = fills
        if float(after.initial[0]) <= initial_now and after.equity[0] >= after.maintenance[0]:
            break
    return [
        LiquidationOrder(account, instruments[f.column].symbol, f.side, Lots(f.quantity), Ticks(f.price_ticks))
        for f in chosen
    ]
