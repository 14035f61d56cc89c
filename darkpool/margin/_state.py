"""Account state: exact ledgers per account and position, mirrored into dense float matrices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from darkpool.domain import Account, BaseUnits, Fill, Instrument, Side
from darkpool.errors import MarginError
from darkpool.margin._black_scholes import FloatArray
from darkpool.margin._book import apply_fill_to_position, average_entry_ticks, tick_value
from darkpool.margin._deficits import share_deficits

__all__ = ["AccountBook", "HypotheticalFill", "Position"]


@dataclass(frozen=True, slots=True)
class Position:
    """An account's position in one instrument: signed lots and exact average entry in ticks."""

    instrument: str
    lots: int
    average_entry_ticks: Fraction | None


@dataclass(frozen=True, slots=True)
class HypotheticalFill:
    """A fill to try on a copy of an account's row: instrument column, side, lots, price, fee rate."""

    column: int
    side: Side
    quantity: int
    price_ticks: int
    fee_rate: Fraction


class AccountBook:
    """Hold balances and positions exactly, plus float64 mirrors for vectorized margin.

    ``positions`` and ``cost`` are accounts x instruments; ``balance`` is deposits plus realized
    PnL minus fees. They are views of instrument-major storage (one contiguous row per
    instrument) that grows by doubling, which is the layout the vectorized margin reads fastest.
    """

    def __init__(self, instruments: Sequence[Instrument], collateral_scale: int) -> None:
        self._columns = {inst.symbol: i for i, inst in enumerate(instruments)}
        self.tick_values = [tick_value(inst, collateral_scale) for inst in instruments]
        self._n_instruments = len(instruments)
        self.accounts: list[Account] = []
        self._rows: dict[Account, int] = {}
        self._pos = np.zeros((self._n_instruments, 16))
        self._cost = np.zeros((self._n_instruments, 16))
        self._balance = np.zeros(16)
        self._negative: set[int] = set()
        """Rows whose cash is below zero (kept with every cash change: the committed balances share them)."""
        self._cash_version = 0
        """Counts cash changes: what is derived from every account's cash is current while it is unchanged."""
        self._shared: tuple[int, dict[Account, int]] | None = None
        self._exact_cost: dict[tuple[int, int], Fraction] = {}
        self.collateral: list[int] = []
        self.realized: list[int] = []
        self.fees: list[int] = []

    @property
    def positions(self) -> FloatArray:
        return self._pos[:, : len(self.accounts)].T

    @property
    def cost(self) -> FloatArray:
        return self._cost[:, : len(self.accounts)].T

    @property
    def balance(self) -> FloatArray:
        return self._balance[: len(self.accounts)]

    def shared_cash(self) -> dict[Account, int] | None:
        """Every account's cash less its share of the deficits (:func:`share_deficits`); ``None`` without one.

        Computed once per change of any cash: every commitment's bond check reads it while a deficit lasts."""
        if not self._negative:
            return None
        if self._shared is None or self._shared[0] != self._cash_version:
            cash = {account: self.cash(row) for account, row in self._rows.items()}
            self._shared = (self._cash_version, share_deficits(cash))
        return self._shared[1]

    def cash_changed(self, row: int) -> None:
        """Mirror ``row``'s exact cash into the float matrix and the set of rows in deficit."""
        cash = self.cash(row)
        self._cash_version += 1
        self._balance[row] = float(cash)
        if cash < 0:
            self._negative.add(row)
        else:
            self._negative.discard(row)

    @property
    def accounts_index(self) -> dict[Account, int]:
        return self._rows

    def column(self, symbol: str) -> int:
        """Return the matrix column of instrument ``symbol``, or raise if unknown."""
        try:
            return self._columns[symbol]
        except KeyError:
            raise MarginError(f"unknown instrument {symbol!r}; known: {sorted(self._columns)}") from None

    def row(self, account: Account, *, create: bool = False) -> int:
        """Return the matrix row of ``account``, opening one if ``create``."""
        row = self._rows.get(account)
        if row is not None:
            return row
        if not create:
            raise MarginError(f"unknown account {account!r}")
        row = len(self.accounts)
        if row == self._pos.shape[1]:
            self._pos = np.hstack([self._pos, np.zeros_like(self._pos)])
            self._cost = np.hstack([self._cost, np.zeros_like(self._cost)])
            self._balance = np.concatenate([self._balance, np.zeros_like(self._balance)])
        self.accounts.append(account)
        self._rows[account] = row
        self.collateral.append(0)
        self.realized.append(0)
        self.fees.append(0)
        return row

    def cash(self, row: int) -> int:
        """Return the exact integer balance of ``row``: collateral + realized PnL - fees."""
        return self.collateral[row] + self.realized[row] - self.fees[row]

    def move_collateral(self, account: Account, amount: int) -> None:
        """Add ``amount`` base units (negative to withdraw) to ``account``'s collateral."""
        row = self.row(account, create=True)
        self.collateral[row] += amount
        self.cash_changed(row)

    def apply(self, fill: Fill, fee_rate: Fraction) -> int:
        """Apply ``fill`` exactly, paying ``fee_rate`` of its value; return the account's row."""
        column = self.column(fill.instrument)
        row = self.row(fill.account, create=True)
        lots = int(self._pos[column, row])
        effect = apply_fill_to_position(
            lots, self._exact_cost.get((row, column), Fraction(0)), fill.side, fill.quantity_lots,
            fill.price_ticks, self.tick_values[column], fee_rate,
        )
        self._exact_cost[(row, column)] = effect.cost
        self._pos[column, row] = effect.lots
        self._cost[column, row] = float(effect.cost)
        self.realized[row] += effect.realized
        self.fees[row] += effect.fee
        self.cash_changed(row)
        return row

    def close_all(self, column: int, price_ticks: int) -> list[tuple[int, int]]:
        """Close every position in ``column`` at ``price_ticks`` without a fee (cash settlement); return the
        ``(row, lots)`` closed. Realizes what a closing fill at that price does, exactly."""
        closed: list[tuple[int, int]] = []
        value = self.tick_values[column]
        whole = value.numerator * price_ticks if value.denominator == 1 else None
        for row in np.flatnonzero(self._pos[column, : len(self.accounts)]).tolist():
            lots = int(self._pos[column, row])
            cost = self._exact_cost.pop((row, column), Fraction(0))
            if whole is not None and cost.denominator == 1:  # integers: no Fraction arithmetic
                self.realized[row] += lots * whole - cost.numerator
            else:
                self.realized[row] += math.floor(lots * price_ticks * value - cost)
            self._pos[column, row] = 0.0
            self._cost[column, row] = 0.0
            self.cash_changed(row)
            closed.append((row, lots))
        return closed

    def hypothetical(self, row: int, fills: Sequence[HypotheticalFill]) -> tuple[FloatArray, FloatArray, float]:
        """Return ``(positions, cost, balance)`` of ``row`` as if ``fills`` had been applied."""
        pos = self._pos[:, row].copy()
        cost = self._cost[:, row].copy()
        cash = self.cash(row)
        exact: dict[int, Fraction] = {}
        for f in fills:
            before = exact.get(f.column, self._exact_cost.get((row, f.column), Fraction(0)))
            effect = apply_fill_to_position(
                int(pos[f.column]), before, f.side, f.quantity, f.price_ticks, self.tick_values[f.column],
                f.fee_rate,
            )
            exact[f.column] = effect.cost
            pos[f.column] = effect.lots
            cost[f.column] = float(effect.cost)
            cash += effect.realized - effect.fee
        return pos, cost, float(cash)

    def position(self, row: int, column: int, symbol: str) -> Position:
        lots = int(self._pos[column, row])
        exact = self._exact_cost.get((row, column), Fraction(0))
        return Position(symbol, lots, average_entry_ticks(lots, exact, self.tick_values[column]))

    def settled(self, row: int) -> tuple[BaseUnits, BaseUnits, BaseUnits]:
        """Return ``(collateral, realized PnL, fees)`` of ``row`` in base units."""
        return BaseUnits(self.collateral[row]), BaseUnits(self.realized[row]), BaseUnits(self.fees[row])
