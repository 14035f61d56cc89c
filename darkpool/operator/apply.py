"""The operator's state and its appliers: one method per journal event kind, the path of live
requests and of replay alike.

An applier takes a *decided* event and cannot fail on it: every check that could fail ran while
deciding (:mod:`darkpool.operator.core`). ``decided`` is what the decision already computed
(the seal, the clearing, the batch trees) so a live request does not compute it twice; on replay
it is None and the applier computes it again, checking it against what the event recorded.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from commit_reveal import (
    BondLedger,
    Clearing,
    CommitRecord,
    CommitRevealRound,
    Recoverer,
    Reveal,
    RoundConfig,
    Salt,
    Schedule,
    Seal,
)
from darkpool.crypto.merkle import HexHash
from darkpool.crypto.sealing import Sealer
from darkpool.domain import Account, BaseUnits, Fill, Lots, Round, Side, Ticks
from darkpool.errors import StorageError
from darkpool.ledger import Books, Deposit, Withdrawal
from darkpool.margin import MarginEngine, Smile, VolSurface
from darkpool.operator.events import (
    BatchPosted,
    BatchPrepared,
    CommitsAccepted,
    DepositCredited,
    Event,
    FheCapsBasis,
    FheEvaluated,
    FheEvaluationFailed,
    FheFillsBooked,
    FheLiquidationsPlaced,
    FheOrderAccepted,
    FheSidesDecrypted,
    FundingPaid,
    InstrumentsExpired,
    MarkSet,
    Mode,
    OracleRefused,
    OrderCancelled,
    RevealsAccepted,
    RoundAbandoned,
    RoundCleared,
    RoundOpened,
    RoundSealed,
    SealPosted,
    SlotReserved,
    VolSurfaceSet,
    WithdrawalRequested,
)
from darkpool.operator.state import BatchRecord, CommitRevealState, CoreConfig, FheState, RoundState
from darkpool.settlement.trees import BatchId, BatchInput, BatchTrees, WithdrawalId, WithdrawalRecord, build_trees
from darkpool.signing import Verifier

__all__ = ["OperatorState", "batch_input", "extra_orders"]


def extra_orders(event: RoundCleared) -> list[Any]:
    """The liquidation entries of a clear event as the machine's extra orders."""
    from darkpool.domain import Order

    return [Order(x.order_id, Side(x.side), Ticks(x.limit_ticks), Lots(x.quantity_lots), x.priority)
            for x in event.liquidations]


def batch_input(state: OperatorState, event: BatchPrepared) -> BatchInput:
    """What a prepared batch commits, from the event and the books it froze."""
    wanted = set(event.withdrawal_ids)
    return BatchInput(
        batch_id=BatchId(event.batch_id), token=event.token,
        balances={a: BaseUnits(v) for a, v in event.balances}, journal_head=HexHash(event.journal_head),
        deposits_credited=event.deposits_credited,
        fills=tuple(state.books.fills[event.fills_from:event.fills_to]),
        withdrawals=tuple(WithdrawalRecord(WithdrawalId(w.withdrawal_id), w.account, w.amount)
                          for w in state.books.withdrawals if w.withdrawal_id in wanted),
    )


class OperatorState:
    """Books, margin, bonds, rounds and batches: everything the journal replays into."""

    def __init__(self, config: CoreConfig, *, sealer: Sealer | None = None, recoverer: Recoverer | None = None) -> None:
        self.config = config
        self.recoverer = recoverer
        """Where commit-reveal rounds recover signatures (in process by default; a process pool to scale)."""
        self.sealer = sealer if sealer is not None else Sealer(secrets.token_bytes(32))
        self.lock = threading.RLock()
        self.at = 0
        """The time of the decision being made or the event being applied."""
        self.verifier = Verifier(config.domain, clock=lambda: self.at)
        self.bonds = BondLedger()
        self.books = Books()
        self.margin = MarginEngine(config.instruments, config.margin, dict(config.implied_vols))
        self.instruments = {i.symbol: i for i in config.instruments}
        self.rounds: dict[int, RoundState] = {}
        self.forfeited: dict[Account, int] = {}
        self.batches: list[BatchRecord] = []
        self.fills_batched = 0
        self.marks: dict[str, tuple[float, int]] = {}
        self.last_prices: dict[str, int] = {}
        """Each instrument's last clearing price in ticks (funding's premium reads it)."""
        self.halted: dict[str, str] = {}
        """Underlyings whose last price-feed answer was refused, with why: their instruments take no rounds."""
        self.funded: dict[str, int] = {}
        """Each perpetual's last funding interval paid."""
        self.expired: set[str] = set()
        self.expiry_marks: dict[str, tuple[tuple[float, int] | None, tuple[float, int] | None]] = {}
        """Per dated instrument not settled yet: its underlying's last mark observed at or before its expiry,
        and the first one observed after it, each ``(price, observed at)``; settlement picks one."""
        self.feed_rounds: dict[str, int] = {}
        """Per underlying: the last price-feed round used as a mark."""
        self.refused_rounds: dict[str, int] = {}
        """Per underlying: the last price-feed round refused (a refusal is journaled once per round)."""

    def apply(self, event: Event, decided: object = None) -> None:
        """Apply a decided event (cannot fail on one)."""
        self.at = max(self.at, int(getattr(event, "at", self.at)))
        _APPLIERS[type(event)](self, event, decided)

    def cr_state(self, round_id: int) -> CommitRevealState:
        state = self.rounds[round_id]
        assert isinstance(state, CommitRevealState)
        return state

    def fhe_state(self, round_id: int) -> FheState:
        state = self.rounds[round_id]
        assert isinstance(state, FheState)
        return state

    def book(self, fills: list[Fill]) -> None:
        """Register fills and move cash and positions (the margin engine owns both)."""
        if not fills:
            return
        for fill in fills:
            self.books.record_fill(fill)
        self.margin.apply_fills(fills, self.at)

    # -- appliers, one per event kind ------------------------------------------------------------

    def _deposit(self, e: DepositCredited, _: object) -> None:
        self.books.credit(Deposit(e.deposit_id, e.account, BaseUnits(e.amount)))
        self.margin.deposit(e.account, e.amount)

    def _mark(self, e: MarkSet, _: object) -> None:
        observed = e.observed_at or e.at
        self.margin.set_mark(e.underlying, e.price, observed)
        self.marks[e.underlying] = (e.price, observed)
        self.halted.pop(e.underlying, None)
        if e.feed_round:
            self.feed_rounds[e.underlying] = e.feed_round
        for symbol, i in self.instruments.items():
            if i.underlying == e.underlying and i.expiry is not None and symbol not in self.expired:
                before, after = self.expiry_marks.get(symbol, (None, None))
                if observed <= i.expiry:
                    before = (e.price, observed)
                elif after is None:
                    after = (e.price, observed)
                self.expiry_marks[symbol] = (before, after)

    def _oracle_refused(self, e: OracleRefused, _: object) -> None:
        self.halted[e.underlying] = e.reason
        if e.feed_round:
            self.refused_rounds[e.underlying] = e.feed_round

    def _vol_surface(self, e: VolSurfaceSet, _: object) -> None:
        self.margin.set_vol_surface(e.underlying, VolSurface.of([Smile(*row) for row in e.smiles]))

    def _round_open(self, e: RoundOpened, _: object) -> None:
        market = Round(e.instrument, Ticks(e.reference_ticks), Ticks(e.band_low_ticks), e.levels)
        if e.mode is Mode.FHE:
            assert e.fhe is not None
            self.rounds[e.round_id] = FheState(e.round_id, market, e.at, e.fhe)
            return
        config = RoundConfig(e.round_id, market, self.config.domain,
                             Schedule(e.at, e.commit_closes_at, e.reveal_closes_at), self.config.operator_key,
                             bond_base_units=e.bond)
        machine = CommitRevealRound(config, clock=lambda: self.at, nonces=self.verifier.nonces, bonds=self.bonds,
                                    recoverer=self.recoverer)
        self.rounds[e.round_id] = CommitRevealState(e.round_id, market, e.at, machine, e.bond)

    def _withdraw(self, e: WithdrawalRequested, _: object) -> None:
        self.verifier.nonces.spend(e.account, e.nonce)
        self.books.debit(Withdrawal(e.withdrawal_id, e.account, BaseUnits(e.amount)))
        self.margin.withdraw(e.account, e.amount, e.at)

    def _commits(self, e: CommitsAccepted, decided: object) -> None:
        machine = self.cr_state(e.round_id).machine
        if isinstance(decided, list):  # the records the decision checked
            machine.apply_commits(decided)
            return
        digest_of = machine.digest_of
        records = []
        for c in e.commits:
            address = bytes.fromhex(c.account[2:])
            records.append(CommitRecord(c.account, address, c.nonce, c.commitment, BaseUnits(c.bond),  # type: ignore[arg-type]
                                        digest_of(address, c.commitment, c.bond, c.nonce, c.expiry), c.order_id,
                                        c.priority, c.expiry, c.signature))
        machine.apply_commits(records)

    def _cancel(self, e: OrderCancelled, _: object) -> None:
        self.verifier.nonces.spend(e.account, e.nonce)
        state = self.rounds[e.round_id]
        if isinstance(state, CommitRevealState):
            record = state.machine.commitment_of((e.account, e.order_nonce))
            assert record is not None
            state.machine.apply_cancel(record)
        else:
            slot = next(s for s, o in state.orders.items() if o.account == e.account and o.nonce == e.order_nonce)
            del state.orders[slot]

    def _seal(self, e: RoundSealed, decided: object) -> None:
        state = self.cr_state(e.round_id)
        sealed = decided if isinstance(decided, Seal) else state.machine.prepare_seal()
        if sealed.root != e.root or sealed.statement.signature != e.signature:
            raise StorageError(f"round {e.round_id}: the journaled seal is not the one its commitments give")
        state.machine.apply_seal(sealed)

    def _seal_posted(self, e: SealPosted, _: object) -> None:
        self.cr_state(e.round_id).posted = True

    def _reveals(self, e: RevealsAccepted, decided: object) -> None:
        state = self.cr_state(e.round_id)
        machine = state.machine
        if isinstance(decided, tuple):  # the reveals the decision checked, and their caps
            opened, capped = decided
        else:
            opened = [Reveal(r.account, r.nonce, Side(r.side), Ticks(r.limit_ticks), Lots(r.quantity_lots),
                             Salt(r.salt)) for r in e.reveals]
            capped = {(r.account, r.nonce): Lots(r.traded_lots) for r in e.reveals if r.traded_lots < r.quantity_lots}
        owners, commitment_of, allocated = state.owners, machine.commitment_of, state.allocated
        for reveal in opened:
            record = commitment_of(reveal.key)
            assert record is not None
            owners[record.order_id] = (reveal.account, reveal.side)
            key = (reveal.account, reveal.side)
            band = state.round
            judged = max(0, min(max(int(reveal.limit_ticks), band.band_low_ticks), band.band_high_ticks))
            used, limit = allocated.get(key, (0, judged))
            worse = max if reveal.side is Side.BUY else min
            allocated[key] = (used + int(capped.get(reveal.key, reveal.quantity_lots)), worse(limit, judged))
        machine.apply_reveals(opened, capped)

    def _clear(self, e: RoundCleared, decided: object) -> None:
        state = self.cr_state(e.round_id)
        clearing = decided if isinstance(decided, Clearing) else state.machine.prepare_clear(extra_orders(e))
        result = clearing.result
        if (result.price_ticks, result.volume_lots) != (e.price_ticks, e.volume_lots):
            raise StorageError(f"round {e.round_id}: clearing again gives {result.price_ticks}/{result.volume_lots}, "
                               f"the journal says {e.price_ticks}/{e.volume_lots}")
        for record in state.machine.forfeits():
            if record.bond:
                self.margin.charge(record.account, record.bond)
                self.forfeited[record.account] = self.forfeited.get(record.account, 0) + record.bond
        state.machine.apply_clear(clearing)
        if result.price_ticks is not None:
            self.last_prices[state.round.instrument] = result.price_ticks
        for x in e.liquidations:
            state.owners[x.order_id] = (x.account, Side(x.side))
        self.book(result.fills_for(e.round_id, state.round.instrument, state.owners))

    def _abandon(self, e: RoundAbandoned, _: object) -> None:
        state = self.rounds[e.round_id]
        if isinstance(state, CommitRevealState):
            state.machine.cancel()
        state.abandoned = True

    def _slot(self, e: SlotReserved, _: object) -> None:
        self.verifier.nonces.spend(e.account, e.nonce)
        self.fhe_state(e.round_id).slots[e.slot] = e.account

    def _fhe_order(self, e: FheOrderAccepted, _: object) -> None:
        self.verifier.nonces.spend(e.account, e.nonce)
        self.fhe_state(e.round_id).orders[e.slot] = e

    def _fhe_liquidations(self, e: FheLiquidationsPlaced, _: object) -> None:
        state = self.fhe_state(e.round_id)
        for placed in e.placed:  # the operator's slot now holds the liquidated account: its fill books there
            state.liquidations[placed.slot] = placed
            state.slots[placed.slot] = placed.account

    def _fhe_result(self, e: FheEvaluated, _: object) -> None:
        state = self.fhe_state(e.round_id)
        state.evaluated = e
        if e.price_ticks is not None:
            self.last_prices[state.round.instrument] = e.price_ticks

    def _funding(self, e: FundingPaid, _: object) -> None:
        self.margin.pay_funding(e.symbol, e.per_lot * e.intervals)
        self.funded[e.symbol] = e.interval

    def _fhe_caps(self, e: FheCapsBasis | FheEvaluationFailed, _: object) -> None:
        pass  # evidence for auditors and operators (the caps travel in FheEvaluated; a failure changes nothing)

    def _fhe_sides(self, e: FheSidesDecrypted, _: object) -> None:
        state = self.fhe_state(e.round_id)
        state.sides = {slot: side for slot, side in enumerate(e.slot_sides) if side is not None}

    def _fhe_booked(self, e: FheFillsBooked, _: object) -> None:
        state = self.fhe_state(e.round_id)
        evaluated = state.evaluated
        assert evaluated is not None
        state.booked = True
        if evaluated.price_ticks is None:
            return
        self.book([Fill(e.round_id, state.order_id(slot), state.slots[slot], state.round.instrument, Side(side),
                        Lots(evaluated.slot_fills[slot]), Ticks(evaluated.price_ticks))
                   for slot, side in sorted(state.sides.items())])

    def _expire(self, e: InstrumentsExpired, _: object) -> None:
        marks = dict(zip(e.symbols, e.prices, strict=True)) if e.prices else None
        for fill in self.margin.settle_expired(e.at, marks):
            self.books.record_fill(fill)
        self.expired.update(e.symbols)
        for symbol in e.symbols:
            self.expiry_marks.pop(symbol, None)

    def _batch(self, e: BatchPrepared, decided: object) -> None:
        trees = decided if isinstance(decided, BatchTrees) else build_trees(batch_input(self, e))
        if trees.balances_root != e.balances_root or trees.fills_root != e.fills_root \
                or trees.withdrawals_root != e.withdrawals_root:
            raise StorageError(f"batch {e.batch_id}: the books give other roots than the journal recorded")
        self.books.assign_batch(e.batch_id)
        self.fills_batched = e.fills_to
        self.batches.append(BatchRecord(e, trees))

    def _batch_posted(self, e: BatchPosted, _: object) -> None:
        record = self.batches[e.batch_id - 1]
        record.posted, record.tx = True, e.tx


_APPLIERS: dict[type[Event], Callable[[OperatorState, Any, object], None]] = {
    DepositCredited: OperatorState._deposit,
    MarkSet: OperatorState._mark,
    VolSurfaceSet: OperatorState._vol_surface,
    OracleRefused: OperatorState._oracle_refused,
    FundingPaid: OperatorState._funding,
    RoundOpened: OperatorState._round_open,
    WithdrawalRequested: OperatorState._withdraw,
    CommitsAccepted: OperatorState._commits,
    OrderCancelled: OperatorState._cancel,
    RoundSealed: OperatorState._seal,
    SealPosted: OperatorState._seal_posted,
    RevealsAccepted: OperatorState._reveals,
    RoundCleared: OperatorState._clear,
    RoundAbandoned: OperatorState._abandon,
    SlotReserved: OperatorState._slot,
    FheOrderAccepted: OperatorState._fhe_order,
    FheLiquidationsPlaced: OperatorState._fhe_liquidations,
    FheEvaluated: OperatorState._fhe_result,
    FheCapsBasis: OperatorState._fhe_caps,
    FheEvaluationFailed: OperatorState._fhe_caps,
    FheSidesDecrypted: OperatorState._fhe_sides,
    FheFillsBooked: OperatorState._fhe_booked,
    InstrumentsExpired: OperatorState._expire,
    BatchPrepared: OperatorState._batch,
    BatchPosted: OperatorState._batch_posted,
}
"""One applier per event kind; a test checks every kind of :mod:`darkpool.operator.events` has one."""
