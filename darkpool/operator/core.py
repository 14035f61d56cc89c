"""The operator core: decide, journal, apply; replay the journal on start.

Every state change is a typed event (:mod:`darkpool.operator.events`). A request is first
*decided* against the current state — every check runs and raising changes nothing — then the
decision is appended to the journal and applied by the one applier replay also runs
(:mod:`darkpool.operator.apply`). Appliers cannot fail on a decided event: whatever could fail
(a stale mark, a margin limit, an amount beyond uint256) is checked while deciding. Times come
from the events, never from the clock, so replay reaches the same state. Callers acknowledge
only once the entry is durable.

Time is the injected clock, made monotonic (a clock that steps back never moves a decision
before an earlier one), and read once per decision: ``core.at`` is the time of the decision
being made or the event being applied, and the round machines and the signature verifier read
their clocks from it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

from commit_reveal import Recoverer, RememberingRecoverer, address_of, cyclic_gc_paused
from darkpool.crypto.sealing import Sealer
from darkpool.domain import Account, BaseUnits, InstrumentKind, Round, Ticks, account
from darkpool.errors import (
    BadOracleAnswer,
    DarkPoolError,
    MarginError,
    NotConfigured,
    NotFound,
    PhaseError,
    PolicyViolation,
    ReplayedDecryption,
    RoundIdTaken,
    StaleMark,
    StorageError,
    ValidationError,
)
from darkpool.ledger import Appended, Journal
from darkpool.margin import Smile, VolSurface, funding_rate
from darkpool.operator.apply import OperatorState
from darkpool.operator.events import (
    DepositCredited,
    Event,
    FheFillsBooked,
    FheRoundInfo,
    FundingPaid,
    InstrumentsExpired,
    MarkSet,
    Mode,
    OracleRefused,
    OrderCancelled,
    RoundAbandoned,
    RoundOpened,
    VolSurfaceSet,
    WithdrawalRequested,
    decode,
    encode,
    wire_text,
)
from darkpool.operator.state import CommitRevealState, CoreConfig, FheState, RoundState
from darkpool.settlement.oracle import checked_mark
from darkpool.signing import Cancel, Signed, WithdrawalRequest, signed_to_wire

__all__ = ["CoreConfig", "OperatorCore", "Settler"]

_log = logging.getLogger("darkpool.operator")

_UINT256 = 2**256
_ID_ATTEMPTS = 3  # round ids an FHE open tries when the custodian already holds one (a crash left it there)


class Settler(Protocol):
    """The chain side of the operator (web3 lives behind this)."""

    def seal_round(self, round_id: int, commitments_root: str) -> str: ...

    def commitments_root(self, round_id: int) -> str: ...

    def settle(self, trees: Any) -> dict[str, Any]: ...

    def last_batch_id(self) -> int: ...


class OperatorCore(OperatorState):
    """Decisions of one operator over its state (sequencer, rounds, margin, books, batches),
    rebuilt from its journal."""

    def __init__(self, journal: Journal, config: CoreConfig, clock: Callable[[], int],
                 settler: Settler | None = None, *, fhe_backend: Any = None, sealer: Sealer | None = None,
                 recoverer: Recoverer | None = None) -> None:
        # Each order endpoint recovers its signer to rate-limit it; the round's checks then reuse it.
        super().__init__(config, sealer=sealer, recoverer=RememberingRecoverer() if recoverer is None else recoverer)
        self.fhe_backend = fhe_backend
        self.journal = journal
        self.clock = clock
        self.settler = settler
        self.price_feeds: dict[str, Any] = {}
        """Underlying -> on-chain price feed (:class:`darkpool.settlement.oracle.PriceFeed`) marks are read from."""
        self.oracle_max_move = 0.25
        self._failed: DarkPoolError | None = None
        self.opening: dict[int, str] = {}
        """FHE rounds whose custodian is preparing them (id -> instrument): reserved, not yet journaled."""
        self._skipped: set[int] = set()  # ids the custodian already held when tried (never journaled here)
        with cyclic_gc_paused():
            for entry in journal.recovered():
                self.apply(decode(entry.kind, entry.data(), entry.seq))

    @property
    def healthy(self) -> bool:
        """False once an applier failed: memory and journal disagree until a restart."""
        return self._failed is None

    # -- the one path of every state change ------------------------------------------------------

    def tick(self) -> int:
        """Read the clock for a decision (never earlier than the last one); the caller holds the lock."""
        if self._failed is not None:
            raise StorageError(f"the operator's state diverged from its journal ({self._failed}); restart it")
        self.at = max(int(self.clock()), self.at)
        return self.at

    def accept(self, event: Event, decided: object = None) -> Appended:
        """Journal a decided ``event`` and apply it; ``decided`` spares the applier recomputing it."""
        kind, payload = encode(event)
        appended = self.journal.append(kind, payload)
        try:
            self.apply(event, decided)
        except Exception as exc:  # an applier bug: memory and journal disagree until a restart
            self._failed = StorageError(f"applying {kind} failed: {exc}")
            raise self._failed from exc
        return appended

    # -- deposits, marks, expiries ---------------------------------------------------------------

    def credit_deposit(self, deposit_id: int, holder: str, amount: int) -> Appended | None:
        """Credit an on-chain deposit event; a deposit already credited returns None."""
        who = account(holder)
        with self.lock:
            now = self.tick()
            if deposit_id in self.books.deposits:
                return None
            if deposit_id != len(self.books.deposits) + 1:
                raise ValidationError(f"deposits are credited in order: expected id {len(self.books.deposits) + 1}, "
                                      f"got {deposit_id}")
            if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < _UINT256:
                raise ValidationError(f"deposit amount must be an integer in 1..2**256-1, got {amount!r}")
            return self.accept(DepositCredited(deposit_id, who, amount, now))

    def set_mark(self, underlying: str, price: float) -> Appended:
        """Record an oracle mark of ``underlying`` now."""
        with self.lock:
            now = self.tick()
            if underlying not in {i.underlying for i in self.config.instruments}:
                raise NotFound(f"no instrument has underlying {underlying!r}")
            if underlying in self.price_feeds:
                raise PolicyViolation(f"marks of {underlying} come from its price feed "
                                      f"{self.price_feeds[underlying].address}: none is set by hand")
            if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) \
                    or not 0 < price < 1e18:
                raise ValidationError(f"mark price must be a positive finite number below 1e18, got {price!r}")
            appended = self.accept(MarkSet(underlying, float(price), now))
            self.book_fhe_fills(now)
            self._requeue(now)
            return appended

    def set_vol_surface(self, underlying: str, smiles: list[tuple[int, float, float, float]]) -> Appended:
        """Set ``underlying``'s implied volatility surface (smiles by expiry), checked before journaling."""
        with self.lock:
            now = self.tick()
            try:
                surface = VolSurface.of([Smile(*row) for row in smiles])
            except (MarginError, TypeError) as exc:
                raise ValidationError(f"volatility surface of {underlying}: {exc}") from None
            if not any(i.underlying == underlying and i.is_option for i in self.config.instruments):
                raise NotFound(f"no option has underlying {underlying!r}")
            rows = tuple((s.expiry, float(s.atm), float(s.skew), float(s.curvature)) for s in surface.smiles)
            return self.accept(VolSurfaceSet(underlying, rows, now))

    def pull_marks(self) -> tuple[dict[str, str], list[Appended]]:
        """Read every configured price feed; journal a new good answer as the mark, or the refusal (which halts
        the underlying's instruments until a good answer), then settle the expiries a mark made due.

        Returns ``{underlying: "ok" | "unchanged" | reason}`` and the journal entries written. A round
        already used is not journaled again, nor one already refused; a feed that cannot be read is
        reported and skipped.
        """
        outcome: dict[str, str] = {}
        appended: list[Appended] = []
        for underlying, feed in sorted(self.price_feeds.items()):
            try:
                answer = feed.latest()  # a chain call, outside the lock
            except DarkPoolError as unreadable:  # the mark ages meanwhile, and goes stale if this lasts
                outcome[underlying] = f"feed {feed.address} unreadable: {unreadable}"
                continue
            with self.lock:
                now = self.tick()
                last = self.marks.get(underlying)
                try:
                    price = checked_mark(underlying, answer, now, self.margin.config.mark_max_age_s,
                                         None if last is None else last[0], self.oracle_max_move,
                                         last_at=None if last is None else last[1])
                except BadOracleAnswer as refused:
                    outcome[underlying] = str(refused)
                    if self.refused_rounds.get(underlying) != answer.round_id or underlying not in self.halted:
                        appended.append(self.accept(OracleRefused(underlying, str(refused), now, answer.round_id)))
                    continue
                if self.feed_rounds.get(underlying) == answer.round_id and underlying not in self.halted:
                    outcome[underlying] = "unchanged"
                    continue
                appended.append(self.accept(MarkSet(underlying, float(price), now, feed.address, answer.round_id,
                                                    min(answer.updated_at, now))))
                self.book_fhe_fills(now)
                self._requeue(now)
                outcome[underlying] = "ok"
        expired = self.settle_expiries()
        return outcome, appended if expired is None else [*appended, expired]

    def accrue_funding(self) -> list[tuple[FundingPaid, Appended]]:
        """Pay every perpetual's funding for the intervals ended since it was last paid (at the current
        premium of its last clearing price over the oracle index), journaled per perpetual."""
        paid: list[tuple[FundingPaid, Appended]] = []
        with self.lock:
            now = self.tick()
            config = self.margin.config
            interval = now // config.funding_interval_s
            for symbol, instrument in self.instruments.items():
                last = self.last_prices.get(symbol)
                if instrument.kind is not InstrumentKind.PERPETUAL or last is None or symbol in self.expired \
                        or instrument.underlying in self.halted:  # the index is in doubt: paid once it is good
                    continue
                previous = self.funded.get(symbol)
                intervals = 0 if previous is None else interval - previous
                if previous is not None and intervals <= 0:
                    continue
                self.margin.risk(now)  # a stale or missing mark refuses funding before anything is journaled
                index = self.marks[instrument.underlying][0]
                longs, shorts = self.margin.open_interest(symbol)
                if longs != shorts:
                    raise StorageError(f"open lots of {symbol} do not net to zero ({longs} long, {shorts} short): "
                                       "funding refused")
                rate, per_lot = funding_rate(instrument, last, index, config.funding_rate_cap, config.collateral_scale)
                event = FundingPaid(symbol, interval, intervals, last, index, instrument.tick_size,
                                    instrument.contract_size * config.collateral_scale, config.funding_rate_cap, rate,
                                    per_lot, now, longs, shorts)
                paid.append((event, self.accept(event)))
        return paid

    def _requeue(self, now: int) -> None:
        """Continuous margin: after a mark, recompute the accounts it moved (every account once time moved) and
        queue those under maintenance at once (their reduce-only orders join the next round). Derived state; a
        mark that cannot price yet waits."""
        with contextlib.suppress(MarginError):
            self.margin.refresh_queue(now)

    def book_fhe_fills(self, now: int) -> Appended | None:
        """Book every decrypted FHE round's fills that wait for a fresh mark (under the lock).

        A round decrypts once; if the marks went stale during its evaluation its fills (sides and
        all, journaled) wait, and the first mark that makes them fresh books them: no client acts.
        """
        booked = None
        for state in list(self.rounds.values()):
            if not isinstance(state, FheState) or not state.awaiting_booking():
                continue
            assert state.evaluated is not None
            if state.evaluated.price_ticks is not None:
                try:
                    self.margin.risk(now)  # a stale mark refuses the booking before anything is journaled
                except StaleMark:
                    return booked
            booked = self.accept(FheFillsBooked(state.round_id, now))
        return booked

    def settle_expiries(self) -> Appended | None:
        """Cash-settle every dated instrument past its expiry, once, at its underlying's mark at expiry.

        That mark is the last one observed at or before the expiry if it was then at most
        ``mark_max_age_s`` old, else the first one observed after it; an instrument with neither
        waits for that mark (it takes no rounds meanwhile). Futures settle at it, options at
        intrinsic value; no current mark is needed, so a stale mark delays nothing else.
        """
        with self.lock:
            now = self.tick()
            due: list[tuple[str, float, int]] = []
            for symbol, instrument in sorted(self.instruments.items()):
                if instrument.expiry is None or instrument.expiry > now or symbol in self.expired:
                    continue
                before, after = self.expiry_marks.get(symbol, (None, None))
                fresh = before is not None and instrument.expiry - before[1] <= self.margin.config.mark_max_age_s
                mark = before if fresh else after
                if mark is not None:
                    due.append((symbol, *mark))
            if not due:
                return None
            return self.accept(InstrumentsExpired(tuple(d[0] for d in due), now, tuple(d[1] for d in due),
                                                  tuple(d[2] for d in due)))

    # -- rounds ----------------------------------------------------------------------------------

    def open_round(self, mode: Mode, instrument: str, reference_ticks: int, band_low_ticks: int, levels: int,
                   slot_count: int = 0, *, commit_s: int | None = None, reveal_s: int | None = None,
                   bond: int = 0) -> tuple[Appended, int]:
        """Announce a round with its reference price and band (commit-reveal: and its schedule). An FHE round's
        id and instrument are reserved under the lock, then the custodian prepares it (compiles, keys: seconds
        to minutes) with the lock released; nothing is journaled until it answers (README, custodian calls)."""
        with self.lock:
            now = self.tick()
            if instrument not in self.instruments:
                raise NotFound(f"unknown instrument {instrument!r}; known: {sorted(self.instruments)}")
            self.require_tradable(instrument, now, "rounds")
            Round(instrument, Ticks(reference_ticks), Ticks(band_low_ticks), levels)
            if not 1 <= levels <= self.config.max_levels:
                raise ValidationError(f"levels must be in 1..{self.config.max_levels}, got {levels}")
            self._require_idle(instrument)
            round_id = max([*self.rounds, *self.opening, *self._skipped], default=0) + 1
            if mode is not Mode.FHE:
                commit_s = self.config.commit_s if commit_s is None else commit_s
                reveal_s = self.config.reveal_s if reveal_s is None else reveal_s
                for name, value in (("commit_s", commit_s), ("reveal_s", reveal_s)):
                    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 86_400:
                        raise ValidationError(f"{name} must be 1..86400 seconds, got {value!r}")
                if isinstance(bond, bool) or not isinstance(bond, int) or not 0 <= bond < _UINT256:
                    raise ValidationError(f"bond must be an integer in 0..2**256-1, got {bond!r}")
                return self.accept(RoundOpened(round_id, mode, instrument, reference_ticks, band_low_ticks, levels,
                                               now, commit_closes_at=now + commit_s,
                                               reveal_closes_at=now + commit_s + reveal_s, bond=bond)), round_id
            if not 1 <= slot_count <= self.config.max_slots:
                raise ValidationError(f"an FHE round needs 1..{self.config.max_slots} slots, got {slot_count}")
            if self.fhe_backend is None:
                raise NotConfigured("this operator has no FHE backend (custodian) configured")
            self.opening[round_id] = instrument
        for attempt in range(1, _ID_ATTEMPTS + 1):
            try:
                return self._open_fhe(round_id, instrument, reference_ticks, band_low_ticks, levels, slot_count)
            except (RoundIdTaken, ReplayedDecryption):
                if attempt == _ID_ATTEMPTS:
                    raise
            with self.lock:  # the custodian holds this id (spent, or left by a crash before our journal): the next
                self._skipped.add(round_id)
                self._require_idle(instrument)
                round_id = max([*self.rounds, *self.opening, *self._skipped]) + 1
                self.opening[round_id] = instrument
        raise AssertionError("unreachable")

    def _require_idle(self, instrument: str) -> None:
        busy = [r.round_id for r in self.rounds.values()
                if r.round.instrument == instrument and r.phase.value not in ("cleared", "cancelled")]
        busy += [rid for rid, opening in self.opening.items() if opening == instrument]
        if busy:
            raise PhaseError(f"round {busy[0]} of {instrument} is still running")

    def _open_fhe(self, round_id: int, instrument: str, reference_ticks: int, band_low_ticks: int, levels: int,
                  slot_count: int) -> tuple[Appended, int]:
        """Have the custodian open reserved FHE round ``round_id`` (idempotent for one shape), then journal it."""
        try:
            prepared = self.fhe_backend.open_round(round_id, slot_count, levels)
            info = FheRoundInfo(**{k: v for k, v in prepared.items() if k in FheRoundInfo.__dataclass_fields__})
            with self.lock:
                event = RoundOpened(round_id, Mode.FHE, instrument, reference_ticks, band_low_ticks, levels,
                                    self.tick(), fhe=info)
                return self.accept(event), round_id
        except DarkPoolError as failed:
            with self.lock:
                skipped = any(rid > round_id for rid in self.rounds)
            if skipped or isinstance(failed, RoundIdTaken):  # this id is never tried again: spend it
                with contextlib.suppress(DarkPoolError):
                    self.fhe_backend.abort(round_id, "the operator's open failed and its id was skipped")
            raise
        finally:
            with self.lock:
                del self.opening[round_id]

    def require_tradable(self, instrument: str, now: int, what: str = "orders") -> None:
        """Raise :class:`PhaseError` if ``instrument`` is halted (a refused price-feed answer) or expired."""
        halted = self.halted.get(self.instruments[instrument].underlying)
        if halted is not None:
            raise PhaseError(f"{instrument} is halted until a good mark arrives: {halted}")
        expiry = self.instruments[instrument].expiry
        if instrument in self.expired or (expiry is not None and expiry <= now):
            raise PhaseError(f"{instrument} expired at {expiry}: it takes no more {what}")

    def get_round(self, round_id: int) -> RoundState:
        found = self.rounds.get(round_id)
        if found is None:
            raise NotFound(f"no round {round_id}")
        return found

    def abandon_round(self, round_id: int, reason: str) -> Appended:
        """Call a round off before it clears: every bond goes back, nothing trades."""
        with self.lock:
            now = self.tick()
            state = self.get_round(round_id)
            if state.phase.value in ("cleared", "cancelled"):
                raise PhaseError(f"round {round_id} is {state.phase.value}: nothing to abandon")
            if getattr(state, "evaluating", False):
                raise PhaseError(f"FHE round {round_id} is being evaluated: abandon it if the evaluation fails")
            if isinstance(state, CommitRevealState) is False and state.phase.value == "reveal":
                raise PhaseError(f"FHE round {round_id} is decrypted: its fills are booked as sides open")
            if not isinstance(reason, str) or not 0 < len(reason) <= 200:
                raise ValidationError("an abandon reason of 1..200 characters is required")
            appended = self.accept(RoundAbandoned(round_id, reason, now))
        if not isinstance(state, CommitRevealState) and self.fhe_backend is not None:
            # Journaled first (the operator's word is final); then the custodian spends the round's
            # masks so nothing of it is ever decrypted. A custodian that is down learns it on retry.
            try:
                self.fhe_backend.abort(round_id, reason)
            except DarkPoolError as error:
                _log.warning("custodian did not record the abort", extra={"round": round_id, "code": error.code})
        return appended

    def cancel_order(self, signed: Signed) -> Appended:
        """Withdraw the signer's order from a round still taking orders (a signed ``Cancel``).

        Commit-reveal: the commitment leaves the round before the seal and its bond goes back.
        FHE: the slot's order is dropped before evaluation (the slot stays the signer's).
        """
        message = signed.message
        if not isinstance(message, Cancel):
            raise ValidationError("expected a Cancel")
        with self.lock:
            now = self.tick()
            state = self.get_round(message.round_id)
            if getattr(state, "evaluating", False):
                raise PhaseError(f"round {message.round_id} is being evaluated: its orders are final")
            signer = Account(self.verifier.check(signed))
            if isinstance(state, CommitRevealState):
                if state.abandoned:
                    raise PhaseError(f"round {message.round_id} was abandoned")
                state.machine.check_cancel(signer, message.order_nonce)
            else:
                if state.phase.value != "commit":
                    raise PhaseError(f"round {message.round_id} is in phase {state.phase.value}: orders are final")
                if not any(o.account == signer and o.nonce == message.order_nonce for o in state.orders.values()):
                    raise NotFound(f"no order of {signer} with nonce {message.order_nonce} in round {message.round_id}")
            return self.accept(OrderCancelled(message.round_id, signer, message.order_nonce, message.nonce,
                                              wire_text(signed_to_wire(signed)), now))

    # -- withdrawals -----------------------------------------------------------------------------

    def request_withdrawal(self, signed: Signed) -> tuple[Appended, int]:
        """Debit a signed withdrawal request; it is paid once a batch commits it."""
        message = signed.message
        if not isinstance(message, WithdrawalRequest):
            raise ValidationError("expected a WithdrawalRequest")
        with self.lock:
            now = self.tick()
            signer = Account(self.verifier.check(signed))
            if account(message.token) != account(self.config.token):
                raise ValidationError(f"token must be {self.config.token}, got {message.token}")
            if not 0 < message.amount < _UINT256:
                raise ValidationError(f"withdrawal amount must be in 1..2**256-1, got {message.amount}")
            free = self.free_balance(signer)
            if message.amount > free:
                raise PolicyViolation(f"withdrawal of {message.amount} exceeds free balance {free} of {signer}")
            margin_free = self.margin.account_margin(signer, now).free_collateral
            if message.amount > margin_free:
                raise PolicyViolation(f"withdrawal of {message.amount} exceeds free collateral {margin_free}")
            withdrawal_id = len(self.books.withdrawals) + 1
            event = WithdrawalRequested(withdrawal_id, signer, message.amount, message.nonce,
                                        wire_text(signed_to_wire(signed)), now)
            return self.accept(event), withdrawal_id

    # -- reads -----------------------------------------------------------------------------------

    @property
    def operator_address(self) -> Account:
        """The address that signs this operator's commit-reveal receipts."""
        return address_of(self.config.operator_key)

    def balance(self, holder: Account) -> BaseUnits:
        """Cash the margin engine books for ``holder`` (collateral + realized - fees), less its share of any
        account's deficit (:func:`~darkpool.margin.share_deficits`), never below zero."""
        return self._balance_of(holder, self.margin.shared_cash())

    def balances(self) -> dict[Account, BaseUnits]:
        """Every depositor's balance: what a batch commits (adding up to at most the books' total cash)."""
        shared = self.margin.shared_cash()
        return {a: self._balance_of(a, shared) for a in self.books.accounts()}

    def _balance_of(self, holder: Account, shared: dict[Account, int] | None) -> BaseUnits:
        return BaseUnits(max(0, self.margin.cash(holder)) if shared is None else shared.get(holder, 0))

    def free_balance(self, holder: Account) -> int:
        """Balance not locked as bonds of running rounds."""
        return self.balance(holder) - self.bonds.held(holder)

    def require_settler(self) -> Settler:
        if self.settler is None:
            raise NotConfigured("this operator has no chain configured")
        return self.settler

    def balance_view(self, holder: Account) -> dict[str, Any]:
        return {"account": holder, "balance": self.balance(holder), "free": self.free_balance(holder),
                "bonds_locked": self.bonds.held(holder), "forfeited": self.forfeited.get(holder, 0)}
