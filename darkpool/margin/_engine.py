"""The margin engine: one object the operator and the demo drive.

Decision code only: every method that depends on time takes ``now`` (POSIX seconds); nothing
reads the wall clock. Scenario PnL per lot is rebuilt when a mark, a volatility or ``now``
changes; margin for all accounts is one pass of matrix products, and after fills only the
touched rows are recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from darkpool.domain import Account, BaseUnits, Fill, Instrument, Lots, OrderId, Side
from darkpool.errors import MarginError
from darkpool.margin._book import exact_rate
from darkpool.margin._caps import estimate_cap, refine_cap
from darkpool.margin._config import MarginConfig
from darkpool.margin._expiry import settlement_ticks
from darkpool.margin._liquidation import plan_liquidation
from darkpool.margin._offsets import offsets
from darkpool.margin._oracle import Mark, MarkOracle
from darkpool.margin._portfolio import MarginArrays, portfolio_margin, scenario_pnl
from darkpool.margin._reports import AccountMargin, CapRequest, Greeks, LiquidationOrder
from darkpool.margin._scenarios import RiskArrays, Scenario, build_risk_arrays, check_exact, scenarios
from darkpool.margin._state import AccountBook, HypotheticalFill, Position
from darkpool.margin._surface import VolSurface

__all__ = ["UNBOUNDED_LOTS", "MarginEngine"]

UNBOUNDED_LOTS = 2**40
"""The cap bound used when a caller gives none."""


class MarginEngine:
    """Portfolio margin, caps and liquidation over ``instruments`` under ``config``."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        config: MarginConfig | None = None,
        implied_vols: Mapping[str, float] | None = None,
    ) -> None:
        self.config = config or MarginConfig()
        self.instruments = tuple(instruments)
        if len({i.symbol for i in self.instruments}) != len(self.instruments):
            raise MarginError("instrument symbols must be unique")
        offsets(self.config.correlations, [i.underlying for i in self.instruments])  # refuse unknown underlyings now
        self.scenarios: tuple[Scenario, ...] = scenarios(self.config)
        self._oracle = MarkOracle(self.config.mark_max_age_s)
        self._book = AccountBook(self.instruments, self.config.collateral_scale)
        self._vols: dict[str, float] = {}
        self._surfaces: dict[str, VolSurface] = {}
        self._vol_version = 0
        self._risk: RiskArrays | None = None
        self._risk_key: tuple[int, int, int] | None = None
        self._table: MarginArrays | None = None
        self._table_rows = 0
        self._dirty: set[int] = set()
        self._moved: set[str] = set()  # underlyings marked since the risk arrays were built
        self._queue: dict[Account, None] = {}
        for symbol, vol in (implied_vols or {}).items():
            self.set_implied_vol(symbol, vol)

    # -- inputs ---------------------------------------------------------------------------------

    def set_mark(self, underlying: str, price: float, at: int) -> Mark:
        """Record the oracle mark of ``underlying`` in quote units at POSIX second ``at``."""
        mark = self._oracle.set(underlying, price, at)
        self._moved.add(underlying)
        return mark

    def set_implied_vol(self, symbol: str, vol: float) -> None:
        """Set the implied volatility (0.6 is 60%) used to price option ``symbol``."""
        self._book.column(symbol)
        if isinstance(vol, bool) or not isinstance(vol, (int, float)) or not 0 < vol < 100:
            raise MarginError(f"implied volatility of {symbol} must be in (0, 100), got {vol!r}")
        self._vols[symbol] = float(vol)
        self._vol_version += 1

    def set_vol_surface(self, underlying: str, surface: VolSurface) -> None:
        """Price ``underlying``'s options from ``surface`` (overrides their per-symbol volatilities)."""
        if not any(i.underlying == underlying and i.is_option for i in self.instruments):
            raise MarginError(f"no option on underlying {underlying!r} to apply a volatility surface to")
        self._surfaces[underlying] = surface
        self._vol_version += 1

    @property
    def vol_surfaces(self) -> dict[str, VolSurface]:
        return dict(self._surfaces)

    def implied_vols(self, now: int) -> dict[str, float]:
        """Each option's implied volatility at ``now``: from its underlying's surface at the current
        mark when one is set, else its own per-symbol volatility."""
        if not self._surfaces:
            return self._vols
        vols = dict(self._vols)
        for i in self.instruments:
            surface = self._surfaces.get(i.underlying)
            if surface is not None and i.is_option and i.strike_ticks is not None and i.expiry is not None:
                spot = self._oracle.get(i.underlying, now).price
                vols[i.symbol] = surface.vol(i.price(i.strike_ticks), spot, i.expiry, now)
        return vols

    def deposit(self, account: Account, amount: int) -> None:
        """Credit ``amount`` collateral base units to ``account``."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise MarginError(f"deposit must be a positive integer of base units, got {amount!r}")
        self._book.move_collateral(account, amount)
        self._dirty.add(self._book.row(account))

    def withdraw(self, account: Account, amount: int, now: int) -> None:
        """Debit ``amount`` if free collateral stays non-negative, else raise and change nothing."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise MarginError(f"withdrawal must be a positive integer of base units, got {amount!r}")
        free = self.account_margin(account, now).free_collateral
        if amount > free:
            raise MarginError(f"withdrawal of {amount} exceeds free collateral {free} of {account}")
        self._book.move_collateral(account, -amount)
        self._dirty.add(self._book.row(account))

    def charge(self, account: Account, amount: int) -> None:
        """Debit ``amount`` collateral base units from ``account`` unconditionally (a forfeited bond).

        Unlike :meth:`withdraw` the debit does not need free collateral: the account may go
        negative, and the liquidation queue picks it up if it falls under maintenance.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise MarginError(f"charge must be a positive integer of base units, got {amount!r}")
        self._book.move_collateral(account, -amount)
        self._dirty.add(self._book.row(account))

    def apply_fills(self, fills: Iterable[Fill], now: int, *, fee_rate: float | None = None) -> list[AccountMargin]:
        """Apply ``fills``, recompute the touched accounts and queue those under maintenance.

        Each fill pays ``fee_rate`` of its value (``config.fee_rate`` unless given, the rate caps
        assume). Marks are checked first, so a stale mark refuses the batch before any fill lands.
        Returns the margin of the touched accounts now under maintenance (one vectorized pass
        finds them).
        """
        batch = list(fills)
        rate = exact_rate(self.config.fee_rate if fee_rate is None else fee_rate)
        for fill in batch:
            if not isinstance(fill, Fill):
                raise MarginError(f"expected a darkpool.domain.Fill, got {type(fill).__name__}")
            self._book.column(fill.instrument)
        self.risk(now)
        touched = dict.fromkeys(self._book.apply(f, rate) for f in batch)
        self._dirty.update(touched)
        table = self.margin_table(now)
        rows = np.fromiter(touched, np.intp, len(touched))
        under = rows[table.equity[rows] < table.maintenance[rows]]
        reports = [self.account_margin(self._book.accounts[row], now) for row in under.tolist()]
        for report in reports:
            self._queue[report.account] = None
        return reports

    def pay_funding(self, symbol: str, per_lot: int) -> int:
        """Move ``per_lot`` base units per open lot of ``symbol`` from longs to shorts; return the total paid.

        Vectorized over every account; zero-sum exactly (integer per lot, open lots net to zero),
        checked before anything moves.
        """
        if isinstance(per_lot, bool) or not isinstance(per_lot, int):
            raise MarginError(f"funding per lot must be an integer of base units, got {per_lot!r}")
        book = self._book
        column = book.column(symbol)
        lots = book.positions[:, column]
        held = np.flatnonzero(lots)
        signed = lots[held].astype(np.int64)
        if int(signed.sum()) != 0:
            raise MarginError(f"open lots of {symbol} do not net to zero ({int(signed.sum())}): funding refused")
        if per_lot == 0 or not held.size:
            return 0
        payments = -signed * per_lot
        for row, amount in zip(held.tolist(), payments.tolist(), strict=True):
            book.realized[row] += amount
            book.cash_changed(row)
        self._dirty.update(held.tolist())
        return int(payments[payments > 0].sum())

    def settle_expired(self, now: int, marks: Mapping[str, float] | None = None) -> list[Fill]:
        """Cash-settle every position in the instruments of ``marks`` (expired at ``now``); return the closing fills.

        ``marks`` maps each symbol to its underlying's mark at its expiry: futures settle at it and
        options at intrinsic value (:func:`~darkpool.margin._expiry.settlement_ticks`), without a fee
        and without reading the current marks; everything is checked before anything moves. Without
        ``marks``, every instrument expired at ``now`` settles at its underlying's current mark. The
        fills have round id 0 and order id ``expiry:<symbol>:<account>``.
        """
        if marks is None:
            marks = {i.symbol: self._oracle.get(i.underlying, now).price for i in self.instruments
                     if i.expiry is not None and i.expiry <= now}
        book = self._book
        prices = {}
        for symbol, mark in marks.items():
            inst = self.instruments[book.column(symbol)]
            if inst.expiry is None or inst.expiry > now:
                raise MarginError(f"{symbol} has not expired at {now}: it settles at {inst.expiry}")
            prices[symbol] = settlement_ticks(inst, mark)
        settlement: list[Fill] = []
        for symbol, price in prices.items():
            for row, held in book.close_all(book.column(symbol), price):
                holder = book.accounts[row]
                settlement.append(Fill(0, OrderId(f"expiry:{symbol}:{holder}"), holder, symbol,
                                       Side.SELL if held > 0 else Side.BUY, Lots(abs(held)), price))
                self._dirty.add(row)
        return settlement

    def open_interest(self, symbol: str) -> tuple[int, int]:
        """Return the open long lots and the open short lots of ``symbol`` (equal while every fill had a
        counterparty)."""
        lots = self._book.positions[:, self._book.column(symbol)]
        return int(lots[lots > 0].sum()), int(-lots[lots < 0].sum())

    # -- risk -----------------------------------------------------------------------------------

    def risk(self, now: int) -> RiskArrays:
        """Return per-lot prices and scenario PnL at ``now``, rebuilding them when inputs moved.

        Raises :class:`~darkpool.errors.StaleMark` when any underlying's mark is too old at ``now``.
        When only marks moved since the last build, at the same ``now``, only the accounts exposed to
        the marked underlyings need their margin recomputed (an account's margin, offsets included, reads
        only its own underlyings' prices): they are marked dirty and the rest of the table is kept.
        """
        key = (self._oracle.version, self._vol_version, now)
        if self._risk is None or key != self._risk_key:
            risk = build_risk_arrays(self.instruments, self._oracle, self.implied_vols(now), self.config, now)
            check_exact(risk.core_pnl)
            check_exact(risk.extended_pnl)
            if self._table is not None and self._risk_key is not None and self._risk_key[1:] == key[1:]:
                self._dirty.update(self.exposed_rows(self._moved).tolist())
            else:
                self._table = None
            self._risk, self._risk_key = risk, key
            self._moved.clear()
        return self._risk

    def exposed_rows(self, underlyings: Iterable[str]) -> npt.NDArray[np.intp]:
        """Return the rows (in :attr:`accounts` order) holding any position on one of ``underlyings``."""
        wanted = set(underlyings)
        columns = [c for c, i in enumerate(self.instruments) if i.underlying in wanted]
        return np.flatnonzero(self._book.positions[:, columns].any(axis=1))

    def margin_table(self, now: int) -> MarginArrays:
        """Return margin of every account (rows in :attr:`accounts` order), recomputing what changed.

        The arrays are the engine's own and are updated in place by later calls; copy to keep.
        """
        risk = self.risk(now)
        book = self._book
        n = len(book.accounts)
        if self._table is None or self._table_rows != n or len(self._dirty) * 4 > n:
            return self.recompute_all(now)
        if self._dirty:
            rows = np.fromiter(sorted(self._dirty), np.intp)
            part = portfolio_margin(
                book.positions[rows], book.cost[rows], book.balance[rows], risk, self.config.maintenance_fraction
            )
            for name in ("equity", "initial", "maintenance", "worst_loss"):
                getattr(self._table, name)[rows] = getattr(part, name)
            self._dirty.clear()
        return self._table

    def recompute_all(self, now: int) -> MarginArrays:
        """Recompute margin of every account from scratch."""
        risk = self.risk(now)
        book = self._book
        self._table = portfolio_margin(
            book.positions, book.cost, book.balance, risk, self.config.maintenance_fraction
        )
        self._table_rows = len(book.accounts)
        self._dirty.clear()
        return self._table

    # -- reads ----------------------------------------------------------------------------------

    @property
    def accounts(self) -> tuple[Account, ...]:
        return tuple(self._book.accounts)

    def account_margin(self, account: Account, now: int) -> AccountMargin:
        """Return the margin of ``account`` at ``now``."""
        row = self._book.row(account)
        table = self.margin_table(now)
        risk = self.risk(now)
        pnl = scenario_pnl(self._book.positions[row][None, :], risk)[0]
        worst_group = int(np.argmin(pnl.min(axis=1)))
        return AccountMargin(
            account=account,
            equity=BaseUnits(int(table.equity[row])),
            initial_margin=BaseUnits(int(table.initial[row])),
            maintenance_margin=BaseUnits(int(table.maintenance[row])),
            worst_loss=BaseUnits(int(table.worst_loss[row])),
            worst_scenario=self.scenarios[int(np.argmin(pnl[worst_group]))],
            worst_underlying=risk.underlyings[worst_group],
        )

    def cash(self, account: Account) -> int:
        """Return the exact cash of ``account``: collateral + realized PnL - fees (0 if never seen).

        Collateral is deposits minus withdrawals and charges. This is the one book of cash: the
        ledger keeps registries of deposits, withdrawals and fills, and reads balances here.
        """
        row = self._book.accounts_index.get(account)
        return 0 if row is None else self._book.cash(row)

    def shared_cash(self) -> dict[Account, int] | None:
        """Every account's cash less its share of the deficits (:func:`~darkpool.margin.share_deficits`), or None."""
        return self._book.shared_cash()

    def balances(self, account: Account) -> tuple[BaseUnits, BaseUnits, BaseUnits]:
        """Return ``(collateral, realized PnL, fees)`` of ``account`` in base units."""
        return self._book.settled(self._book.row(account))

    def positions(self, account: Account) -> list[Position]:
        """Return the non-flat positions of ``account`` with exact average entry."""
        row = self._book.row(account)
        return [
            self._book.position(row, c, inst.symbol)
            for c, inst in enumerate(self.instruments)
            if self._book.positions[row, c] != 0
        ]

    def position_greeks(self, account: Account, now: int) -> dict[str, Greeks]:
        """Return the Greeks of each non-flat position of ``account``."""
        row = self._book.row(account)
        greeks = self.risk(now).greeks
        lots = self._book.positions[row]
        return {
            self.instruments[c].symbol: Greeks(*(float(x) for x in lots[c] * greeks[c]))
            for c in np.flatnonzero(lots)
        }

    def account_greeks(self, account: Account, now: int) -> Greeks:
        """Return the summed Greeks of ``account`` (across underlyings; see :meth:`underlying_greeks`)."""
        total = self._book.positions[self._book.row(account)] @ self.risk(now).greeks
        return Greeks(*(float(x) for x in total))

    def underlying_greeks(self, account: Account, now: int) -> dict[str, Greeks]:
        """Return the Greeks of ``account`` summed per underlying."""
        per_lot = self._book.positions[self._book.row(account)][:, None] * self.risk(now).greeks
        out: dict[str, Greeks] = {}
        for underlying in dict.fromkeys(i.underlying for i in self.instruments):
            mask = np.array([i.underlying == underlying for i in self.instruments])
            out[underlying] = Greeks(*(float(x) for x in per_lot[mask].sum(axis=0)))
        return out

    # -- pre-trade ------------------------------------------------------------------------------

    def free_collateral_after(
        self, account: Account, instrument: str, side: Side, quantity: int, limit_ticks: int, now: int,
        fee_rate: float | None = None,
    ) -> int:
        """Return free collateral of ``account`` as if ``quantity`` lots filled at ``limit_ticks``."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise MarginError(f"quantity must be a non-negative integer of lots, got {quantity!r}")
        column = self._book.column(instrument)
        rate = exact_rate(self.config.fee_rate if fee_rate is None else fee_rate)
        fills = [HypotheticalFill(column, side, quantity, limit_ticks, rate)] if quantity > 0 else []
        m = self._row_margin(self._book.row(account), fills, now)
        return int(m.equity[0] - m.initial[0])

    def _row_margin(self, row: int, fills: Sequence[HypotheticalFill], now: int) -> MarginArrays:
        pos, cost, cash = self._book.hypothetical(row, fills)
        return portfolio_margin(
            pos[None, :], cost[None, :], np.array([cash]), self.risk(now), self.config.maintenance_fraction
        )

    def cap(
        self, account: Account, instrument: str, side: Side, limit_ticks: int, now: int,
        max_lots: int | None = None, fee_rate: float | None = None,
    ) -> Lots:
        """Return the largest lots ``account`` may fill, up to ``max_lots``.

        A fill of ``q <= cap`` lots at ``limit_ticks`` leaves free collateral non-negative, or, for
        an account already below zero, no lower than now; ``cap + 1`` lots would not (unless
        ``cap`` is ``max_lots``). A uniform-price round fills a buy at or below its limit and a sell
        at or above it, which only raises free collateral, so the cap holds at any clearing price.
        """
        upper = UNBOUNDED_LOTS if max_lots is None else max_lots
        if isinstance(upper, bool) or not isinstance(upper, int) or upper < 0:
            raise MarginError(f"max_lots must be a non-negative integer, got {max_lots!r}")
        if isinstance(limit_ticks, bool) or not isinstance(limit_ticks, int) or limit_ticks < 0:
            raise MarginError(f"limit_ticks must be a non-negative integer, got {limit_ticks!r}")
        risk = self.risk(now)
        column = self._book.column(instrument)
        if account not in self._book.accounts_index:
            return Lots(0)  # no collateral and no positions: nothing to trade against
        expiry = self.instruments[column].expiry
        if expiry is not None and expiry <= now:
            return Lots(0)  # expired: only settlement closes it
        row = self._book.row(account)
        rate = self.config.fee_rate if fee_rate is None else fee_rate
        current = self._row_margin(row, [], now)
        threshold = min(0, int(current.equity[0] - current.initial[0]))
        guess = estimate_cap(
            self._book.positions[row], float(current.equity[0]), column, side, limit_ticks,
            float(exact_rate(rate)), threshold, upper, risk,
        )

        def passes(q: int) -> bool:
            after = self.free_collateral_after(account, instrument, side, q, limit_ticks, now, rate)
            return q == 0 or after >= threshold

        return Lots(refine_cap(passes, guess, upper))

    def caps(self, requests: Sequence[CapRequest], now: int, max_lots: int | None = None) -> list[Lots]:
        """Return :meth:`cap` for each request; each is judged alone against the current state.

        One vectorized pass first finds the requests whose whole quantity is affordable (an
        opening trade that leaves free collateral clear of the threshold by a guard far above
        float error): their cap is their quantity, as :meth:`cap` would find (it returns ``upper``
        whenever ``upper`` passes). Every other request gets the exact search of :meth:`cap`.
        """
        out: list[Lots | None] = [None] * len(requests)
        fast = self._affordable_whole(requests, now, max_lots)
        for i, r in enumerate(requests):
            upper = r.max_lots if r.max_lots is not None else max_lots
            out[i] = Lots(upper) if fast[i] and upper is not None else self.cap(
                r.account, r.instrument, r.side, r.limit_ticks, now, upper)
        return [q for q in out if q is not None]

    def _affordable_whole(self, requests: Sequence[CapRequest], now: int, max_lots: int | None) -> list[bool]:
        """For each request, whether filling its whole ``max_lots`` surely keeps margin (False: not sure)."""
        book, n = self._book, len(requests)
        sure = [False] * n
        if not n or float(exact_rate(self.config.fee_rate)) != 0.0:
            return sure  # fees need exact rounding: leave them to the exact search
        risk, table = self.risk(now), self.margin_table(now)
        index = book.accounts_index
        columns_of = {i.symbol: c for c, i in enumerate(self.instruments)}
        live = {i.symbol for i in self.instruments if i.expiry is None or i.expiry > now}
        picked, rows, columns, signed_lots, prices = [], [], [], [], []
        for i, r in enumerate(requests):
            upper = r.max_lots if r.max_lots is not None else max_lots
            row = index.get(r.account)
            if row is None or type(upper) is not int or upper <= 0 or r.instrument not in live \
                    or type(r.limit_ticks) is not int or r.limit_ticks < 0:
                continue  # unknown, expired, malformed: the exact search decides
            picked.append(i)
            rows.append(row)
            columns.append(columns_of[r.instrument])
            signed_lots.append(r.side.sign * upper)
            prices.append(r.limit_ticks)
        if not picked:
            return sure
        row_index = np.array(rows, dtype=np.intp)
        column_index = np.array(columns, dtype=np.intp)
        positions = book.positions[row_index].copy()
        cost = book.cost[row_index].copy()
        value = np.array([float(v) for v in book.tick_values])[column_index]
        lots = np.array(signed_lots, dtype=np.float64)
        at = np.arange(len(picked))
        opening = positions[at, column_index] * lots >= 0  # closing realizes PnL: the exact search decides
        positions[at, column_index] += lots
        cost[at, column_index] += lots * np.array(prices, dtype=np.float64) * value
        after = portfolio_margin(positions, cost, book.balance[row_index], risk, self.config.maintenance_fraction)
        free_now = table.equity[row_index] - table.initial[row_index]
        threshold = np.minimum(0.0, np.floor(free_now))
        guard = 1.0 + 1e-9 * (np.abs(after.equity) + after.initial + np.abs(cost).sum(axis=1))
        for k in np.flatnonzero(opening & (after.equity - after.initial >= threshold + guard)):
            sure[picked[k]] = True
        return sure

    # -- liquidation ----------------------------------------------------------------------------

    @property
    def liquidation_queue(self) -> tuple[Account, ...]:
        return tuple(self._queue)

    def refresh_queue(self, now: int) -> tuple[Account, ...]:
        """Queue every account under maintenance at ``now`` (one vectorized pass over the margin table), drop
        those healthy again or flat, and return the queue (continuous margin: run on each new mark)."""
        table = self.margin_table(now)
        for row in np.flatnonzero(table.equity < table.maintenance).tolist():
            self._queue[self._book.accounts[row]] = None
        for account in list(self._queue):
            row = self._book.row(account)
            if table.equity[row] >= table.maintenance[row] or not self._book.positions[row].any():
                del self._queue[account]
        return tuple(self._queue)

    def liquidation_orders(self, now: int) -> list[LiquidationOrder]:
        """Refresh the queue at ``now`` and return reduce-only orders for the next round.

        Accounts enter when equity falls below maintenance and leave once healthy again or flat.
        Worst margin ratios come first.
        """
        queue = self.refresh_queue(now)
        ratio = {a: self.account_margin(a, now).margin_ratio for a in queue}
        orders: list[LiquidationOrder] = []
        for account in sorted(queue, key=lambda a: -ratio[a] if math.isfinite(ratio[a]) else -math.inf):
            orders.extend(plan_liquidation(account, self._book, self.instruments, self.risk(now), self.config))
        return orders
