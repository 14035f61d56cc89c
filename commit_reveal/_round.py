"""The operator's side of one commit-reveal round: commit, seal, reveal, clear, cancel.

Why a reveal carries no signature: the commitment is signed (EIP-712, nonce, expiry) and binds
the account, round, instrument, side, limit, quantity, nonce and a 32-byte secret salt. Opening it
needs that salt, which only the committer has, and can only yield the exact order the account
signed, in this round. A second signature on the reveal would authenticate nothing new and
double the cost of a round (two secp256k1 recoveries per order instead of one). A party that
somehow learns a salt could at most reveal the signed order on its owner's behalf.

Every action checks everything first and changes state last, so a rejected action changes
nothing: ``commit_many`` and ``reveal_many`` apply their accepted items together after the checks
and report each rejected item with its error. Time comes only from the injected ``clock``.

Each action is also offered as a pure *check* returning a decision and an *apply* that takes it
and cannot fail (``check_commits``/``apply_commits``, ``prepare_seal``/``apply_seal``,
``check_reveals``/``apply_reveals``, ``prepare_clear``/``apply_clear``): the operator journals
every decision between the two and replays the journal through the same appliers, so this is
the one commit-reveal machine of the project, in process and in the service alike.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from commit_reveal._admission import Admission
from commit_reveal._batching import cyclic_gc_paused
from commit_reveal._bonds import BondLedger, BondState
from commit_reveal._commitment import CommitKey, CommitmentScheme, Reveal
from commit_reveal._config import CapFn, RoundConfig
from commit_reveal._receipts import CommitmentsSealed, Receipt, sign_statement
from commit_reveal._records import BatchOutcome, Clearing, CommitRecord, RevealDecision, RevealRecord
from commit_reveal._schedule import Phase
from commit_reveal._seal import Seal, tree_layout
from commit_reveal._signatures import CommitmentDigester, Recoverer, SerialRecoverer
from darkpool.clearing import OrderArrays, clear_arrays, clear_reference
from darkpool.domain import Lots, Order, OrderId, RoundResult, Side, Ticks, account
from darkpool.errors import (
    AlreadyRevealed,
    DarkPoolError,
    InvalidReveal,
    PhaseError,
    TooEarly,
    TooLate,
    UnknownCommitment,
    ValidationError,
)
from darkpool.signing import NonceBook, Signed

__all__ = ["CommitRevealRound", "RoundState"]

SettleFn = Callable[[int, bytes], None]
"""Settlement hook, called as ``settle(round_id, commitments_root)`` (``sealCommitments`` on chain)."""


@dataclass(frozen=True, slots=True)
class RoundState:
    """An immutable picture of everything a round holds, for checking that nothing changed."""

    phase: Phase
    root: bytes | None
    commits: tuple[tuple[CommitKey, CommitRecord], ...]
    reveals: tuple[tuple[CommitKey, RevealRecord], ...]
    bonds: tuple[object, ...]
    spent_nonces: frozenset[tuple[str, int]]
    order_ids: frozenset[str]
    result: RoundResult | None


class CommitRevealRound:
    """One round on the operator: phases from ``clock``, bonds, nonces, seal, reveals, clearing.

    ``settle`` receives the commitments root at the seal (the settlement contract's
    ``sealCommitments``); if it raises, the round stays unsealed. ``cap`` is the margin engine's
    per-order cap, applied at reveal. ``recoverer`` chooses where signature recovery runs.
    """

    def __init__(
        self,
        config: RoundConfig,
        *,
        clock: Callable[[], int],
        settle: SettleFn | None = None,
        cap: CapFn | None = None,
        nonces: NonceBook | None = None,
        bonds: BondLedger | None = None,
        recoverer: Recoverer | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._settle = settle
        self._cap = cap
        self.nonces = NonceBook() if nonces is None else nonces
        self.bonds = BondLedger() if bonds is None else bonds
        self._recoverer = SerialRecoverer() if recoverer is None else recoverer
        market = config.market
        self._scheme = CommitmentScheme(market.instrument, config.round_id)
        self._digester = CommitmentDigester(config.domain, market.instrument, config.round_id)
        self._commits: dict[CommitKey, CommitRecord] = {}
        self._arrivals = 0
        """Commitments ever accepted: the next default priority (a cancelled one leaves its number unused)."""
        self._order_ids: set[str] = set()
        self._reveals: dict[CommitKey, Reveal] = {}
        self._capped: dict[CommitKey, Lots] = {}
        """Quantities the margin cap lowered; every other reveal trades its revealed quantity."""
        self._seal: Seal | None = None
        self._positions: dict[CommitKey, int] | None = None
        self._result: RoundResult | None = None
        self._cleared: Clearing | None = None
        self._cancelled = False

    # --- state ----------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.config.schedule.phase(
            self._clock(), sealed=self._seal is not None, cleared=self._result is not None, cancelled=self._cancelled
        )

    @property
    def seal_record(self) -> Seal | None:
        return self._seal

    @property
    def result(self) -> RoundResult | None:
        return self._result

    @property
    def cleared_orders(self) -> tuple[Order, ...]:
        """The orders that went into clearing (revealed, capped, in commit order, then the extra
        orders); empty before clearing."""
        return () if self._cleared is None else self._cleared.orders + self._cleared.extra_orders

    @property
    def extra_orders(self) -> tuple[Order, ...]:
        """The operator's own orders (liquidations) that joined the clearing."""
        return () if self._cleared is None else self._cleared.extra_orders

    def commitments(self) -> list[CommitRecord]:
        """Every accepted commitment, in sequence order."""
        return list(self._commits.values())

    def revealed_count(self) -> int:
        return len(self._reveals)

    def commitment_of(self, key: CommitKey) -> CommitRecord | None:
        return self._commits.get(key)

    def reveal_of(self, key: CommitKey) -> RevealRecord | None:
        reveal = self._reveals.get(key)
        if reveal is None:
            return None
        quantity = self._capped.get(key, reveal.quantity_lots)
        return RevealRecord(reveal.side, reveal.limit_ticks, reveal.quantity_lots, quantity, reveal.salt)

    def snapshot(self) -> RoundState:
        spent = frozenset((a, n) for a, ns in self.nonces._spent.items() for n in ns)
        return RoundState(
            self.phase, None if self._seal is None else self._seal.root, tuple(self._commits.items()),
            tuple((k, r) for k in self._reveals if (r := self.reveal_of(k)) is not None), self.bonds.snapshot(),
            spent, frozenset(self._order_ids), self._result,
        )

    def _require(self, wanted: Phase, action: str) -> Phase:
        phase = self.phase
        if phase is wanted:
            return phase
        order = [Phase.OPEN, Phase.COMMIT, Phase.SEALING, Phase.REVEAL, Phase.CLEARING]
        if phase in order and order.index(phase) < order.index(wanted):
            raise TooEarly(f"cannot {action} in phase {phase.value}: it opens in phase {wanted.value}")
        if phase in order:
            raise TooLate(f"cannot {action} in phase {phase.value}: phase {wanted.value} is over")
        raise PhaseError(f"cannot {action}: round is {phase.value}")

    # --- commit ---------------------------------------------------------------------------

    def commit(self, signed: Signed, *, order_id: str | None = None, priority: int | None = None) -> CommitKey:
        """Accept one signed commitment and its bond; return its key ``(account, nonce)``."""
        outcome = self.commit_many(
            [signed], order_ids=None if order_id is None else [order_id],
            priorities=None if priority is None else [priority],
        )
        outcome.raise_first()
        return outcome.accepted[0]

    @cyclic_gc_paused()
    def commit_many(
        self,
        signed: Sequence[Signed],
        *,
        order_ids: Sequence[str] | None = None,
        priorities: Sequence[int] | None = None,
    ) -> BatchOutcome[CommitKey]:
        """Check many signed commitments, accept the valid ones together and report the rest.

        ``order_ids`` and ``priorities`` are the operator's labels and sequence numbers; by default
        the id is ``"<account>:<nonce>"`` and the priority the commitment's arrival number.
        Errors per item: :class:`ValidationError`, :class:`WrongChainId`,
        :class:`WrongVerifyingContract`, :class:`WrongRound`, :class:`ExpiredMessage`,
        :class:`InsufficientBond`, :class:`MalleableSignature`, :class:`InvalidSignature`,
        :class:`ReplayedMessage` (the same message again), :class:`DuplicateNonce` (another
        message with a spent nonce). A commit out of phase raises :class:`TooEarly`/:class:`TooLate`.
        """
        outcome = self.check_commits(signed, order_ids=order_ids, priorities=priorities)
        self.apply_commits(outcome.accepted)
        return BatchOutcome(tuple((r.account, r.nonce) for r in outcome.accepted), outcome.rejected)

    def check_commits(
        self,
        signed: Sequence[Signed],
        *,
        order_ids: Sequence[str] | None = None,
        priorities: Sequence[int] | None = None,
    ) -> BatchOutcome[CommitRecord]:
        """Every check of :meth:`commit_many`, changing nothing; return the records to apply."""
        self._require(Phase.COMMIT, "commit")
        for name, labels in (("order ids", order_ids), ("priorities", priorities)):
            if labels is not None and len(labels) != len(signed):
                raise ValidationError(f"expected {len(signed)} {name}, got {len(labels)}")
        batch = Admission(self.config, self._digester, self._commits, self._order_ids, self.nonces.is_spent,
                          signed, order_ids, priorities, self._arrivals)
        # Chunks keep each message in cache from its first checks to its signature check.
        chunk = self._recoverer.batch_size or max(1, len(signed))
        for first in range(0, len(signed), chunk):
            candidates = batch.screen(range(first, min(first + chunk, len(signed))), self._clock())
            recovered = self._recoverer.recover([c.digest for c in candidates],
                                                [signed[c.position].signature for c in candidates])
            batch.admit(candidates, recovered)
        return BatchOutcome(tuple(batch.accepted.values()), dict(sorted(batch.rejected.items())))

    def apply_commits(self, records: Sequence[CommitRecord]) -> None:
        """Accept checked commitments: spend their nonces, post their bonds (cannot fail)."""
        keyed = {(r.account, r.nonce): r for r in records}
        spend = self.nonces.spend
        for signer, nonce in keyed:
            spend(signer, nonce)
        self.bonds.post_many(keyed, (r.bond for r in records))
        self._commits.update(keyed)
        self._order_ids.update(r.order_id for r in records)
        self._arrivals += len(keyed)
        self._positions = None

    def check_cancel(self, account_: str, nonce: int) -> CommitRecord:
        """Every check of withdrawing a commitment (commit phase only); return it, changing nothing."""
        self._require(Phase.COMMIT, "cancel a commitment")
        record = self._commits.get((account(account_), nonce))
        if record is None:
            raise UnknownCommitment(f"no commitment of {account_} with nonce {nonce}")
        return record

    def apply_cancel(self, record: CommitRecord) -> None:
        """Withdraw a checked commitment: it leaves the round and its bond goes back (cannot fail)."""
        key = (record.account, record.nonce)
        del self._commits[key]
        self._order_ids.discard(record.order_id)
        self.bonds.release_many([key])
        self._positions = None

    def digest_of(self, address: bytes, commitment: bytes, bond: int, nonce: int, expiry: int) -> bytes:
        """The EIP-712 digest a committer signed (for rebuilding journaled records)."""
        return self._digester.digest(address, commitment, bond, nonce, expiry)

    # --- seal -----------------------------------------------------------------------------

    @cyclic_gc_paused()
    def seal(self) -> Seal:
        """Build the commitments root, sign it, hand it to settlement and open the reveals.

        A round without commitments seals the zero root and skips settlement (the contract
        refuses a zero root; there is nothing to prove).
        """
        sealed = self.prepare_seal()
        if sealed.layout is not None and self._settle is not None:
            self._settle(self.config.round_id, sealed.root)
        self.apply_seal(sealed)
        return sealed

    def prepare_seal(self) -> Seal:
        """Build and sign the commitments root, changing nothing."""
        self._require(Phase.SEALING, "seal")
        if self._clock() >= self.config.schedule.reveal_closes_at:
            raise TooLate("cannot seal after the reveal deadline: cancel the round instead")
        config = self.config
        records = list(self._commits.values())
        layout = tree_layout(records) if records else None
        root = bytes(32) if layout is None else layout[0][0]
        statement = CommitmentsSealed(config.operator, config.market.instrument, config.round_id, root, len(records))
        signed = sign_statement(statement, config.domain, config.operator_key)
        return Seal(root, signed, records, layout)

    def apply_seal(self, sealed: Seal) -> None:
        """Record the seal: reveals open (cannot fail)."""
        self._seal = sealed

    def receipt(self, account_: str, nonce: int) -> Receipt:
        """The receipt proving that commitment ``(account, nonce)`` is in the sealed root."""
        if self._seal is None:
            raise TooEarly("receipts exist once the round is sealed")
        tree = self._seal.tree
        if tree is None:
            raise UnknownCommitment(f"no commitment of {account_} with nonce {nonce}")
        key = (account(account_), nonce)
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(self._commits)}
        position = self._positions.get(key)
        if position is None:
            raise UnknownCommitment(f"no commitment of {account_} with nonce {nonce}")
        record = self._commits[key]
        return Receipt(
            self._seal.statement, record.account, record.nonce, record.commitment,
            tree.values[position].tree_index, tuple(tree.get_proof_bytes(position)),
        )

    # --- reveal ---------------------------------------------------------------------------

    def reveal(self, reveal: Reveal) -> OrderId:
        """Open one commitment; return the order id it trades under."""
        outcome = self.reveal_many([reveal])
        outcome.raise_first()
        return self._commits[outcome.accepted[0]].order_id

    @cyclic_gc_paused()
    def reveal_many(self, reveals: Sequence[Reveal]) -> BatchOutcome[CommitKey]:
        """Check many reveals in constant time against their commitments; accept the valid ones.

        Errors per item: :class:`UnknownCommitment`, :class:`AlreadyRevealed`, and the opaque
        :class:`InvalidReveal` for any wrong field or salt. Out of phase: :class:`TooEarly`
        before the seal, :class:`TooLate` after the deadline.
        """
        decision = self.check_reveals(reveals)
        self.apply_reveals(decision.accepted, decision.capped)
        return BatchOutcome(tuple(r.key for r in decision.accepted), decision.rejected)

    def check_reveals(self, reveals: Sequence[Reveal]) -> RevealDecision:
        """Every check of :meth:`reveal_many` and the margin caps, changing nothing."""
        self._require(Phase.REVEAL, "reveal")
        commitment_of = self._scheme.hasher()
        commits, reveals_done, cap = self._commits, self._reveals, self._cap
        accepted: dict[CommitKey, Reveal] = {}
        capped: dict[CommitKey, Lots] = {}
        rejected: dict[int, DarkPoolError] = {}
        compare = hmac.compare_digest
        for i, reveal in enumerate(reveals):
            try:
                if not isinstance(reveal, Reveal):
                    raise ValidationError(f"expected a Reveal, got {type(reveal).__name__}")
                key = (reveal.account, reveal.nonce)
                record = commits.get(key)
                if record is None:
                    raise UnknownCommitment(f"no commitment of {reveal.account} with nonce {reveal.nonce}")
                if key in reveals_done or key in accepted:
                    raise AlreadyRevealed(f"commitment of {reveal.account} with nonce {reveal.nonce} is already open")
                if not compare(commitment_of(reveal), record.commitment):
                    raise InvalidReveal("reveal does not open its commitment")
                if cap is not None:
                    quantity = reveal.quantity_lots
                    allowed = Lots(max(0, min(quantity, int(cap(reveal.account, reveal.side, reveal.limit_ticks,
                                                                 quantity)))))
                    if allowed < quantity:
                        capped[key] = allowed
            except DarkPoolError as exc:
                rejected[i] = exc
                continue
            accepted[key] = reveal
        return RevealDecision(tuple(accepted.values()), capped, rejected)

    def apply_reveals(self, reveals: Iterable[Reveal], capped: Mapping[CommitKey, Lots]) -> None:
        """Open checked reveals with their capped quantities; their bonds go back (cannot fail)."""
        opened = {r.key: r for r in reveals}
        self.bonds.release_many(opened)
        self._reveals.update(opened)
        self._capped.update(capped)

    # --- clear and cancel -----------------------------------------------------------------

    @cyclic_gc_paused()
    def clear(self, extra_orders: Sequence[Order] = ()) -> RoundResult:
        """Clear the revealed orders with the vectorized engine; forfeit unrevealed bonds.

        Allowed after the reveal deadline, or earlier once every commitment is revealed. Orders
        capped to zero lots take no part. Fills are keyed by order id, in commit order, then the
        operator's ``extra_orders`` (liquidations), which must come after every client in priority.
        """
        clearing = self.prepare_clear(extra_orders)
        self.apply_clear(clearing)
        return clearing.result

    def prepare_clear(self, extra_orders: Sequence[Order] = ()) -> Clearing:
        """Clear the round in a decision, changing nothing."""
        phase = self.phase
        if not (phase is Phase.REVEAL and len(self._reveals) == len(self._commits)):
            self._require(Phase.CLEARING, "clear")
        commits, reveals, capped = self._commits, self._reveals, self._capped
        keys = [k for k in commits if k in reveals and capped.get(k) != 0]
        opened = [reveals[k] for k in keys]
        ids = [commits[k].order_id for k in keys]
        side = [r.side for r in opened]
        limits = [r.limit_ticks for r in opened]
        quantities = [capped.get(k, r.quantity_lots) for k, r in zip(keys, opened, strict=True)]
        priorities = [commits[k].priority for k in keys]
        columns = (list(ids), list(side), list(limits), list(quantities), list(priorities))
        last = max(priorities, default=-1)
        for order in extra_orders:
            if order.id in self._order_ids or order.id in ids:
                raise ValidationError(f"extra order id {order.id!r} is already in use in this round")
            if order.priority <= last:
                raise ValidationError(f"extra order {order.id} must come after every client (priority > {last})")
            ids.append(order.id)
            side.append(order.side)
            limits.append(order.limit_ticks)
            quantities.append(order.quantity_lots)
            priorities.append(order.priority)
        market = self.config.market
        try:
            arrays = OrderArrays(
                is_buy=np.array([s is Side.BUY for s in side], dtype=np.bool_),
                limit_ticks=np.array(limits, dtype=np.int64),
                quantity_lots=np.array(quantities, dtype=np.int64),
                priority=np.array(priorities, dtype=np.int64),
            )
        except OverflowError:  # beyond int64: the reference engine's Python integers
            result = clear_reference(market, list(map(Order, ids, side, limits, quantities, priorities)))
        else:
            cleared = clear_arrays(market, arrays)
            price = None if cleared.price_ticks is None else Ticks(cleared.price_ticks)
            result = RoundResult(price, Lots(cleared.volume_lots), dict(zip(ids, cleared.fills.tolist(), strict=True)))
        return Clearing(columns, tuple(extra_orders), result)

    def apply_clear(self, clearing: Clearing) -> None:
        """Record the clearing; unrevealed bonds forfeit (cannot fail)."""
        self.bonds.forfeit_many(key for key in self._commits if key not in self._reveals)
        self._cleared = clearing
        self._result = clearing.result

    def forfeits(self) -> list[CommitRecord]:
        """The commitments never revealed (their bonds forfeit at clearing)."""
        return [r for k, r in self._commits.items() if k not in self._reveals]

    def cancel(self) -> None:
        """Call the round off before clearing; every bond still posted goes back."""
        phase = self.phase
        if phase in (Phase.CLEARED, Phase.CANCELLED):
            raise PhaseError(f"cannot cancel: round is {phase.value}")
        bonds = self.bonds
        bonds.release_many(k for k in self._commits if (b := bonds.get(k)) is not None and b.state is BondState.POSTED)
        self._cancelled = True
