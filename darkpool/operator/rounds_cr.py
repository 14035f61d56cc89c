"""Commit-reveal rounds on the operator: it drives :class:`commit_reveal.CommitRevealRound`.

Phases are **clock-driven**: the round's schedule (commits close at ``commit_closes_at``,
reveals at ``reveal_closes_at``) is fixed and journaled when the round is announced, and the
machine reads its phase off that schedule and the injected clock. The operator's two actions
(seal, clear) are allowed only in the phases the schedule opens for them. Why not admin-driven:
the operator could then cut the reveal window short and forfeit the bonds of clients it did not
wait for, or hold commits open at will; with a published schedule every client knows its
windows in advance, and auditors check every journaled time against it. A round may clear before
its reveal deadline only once every commitment is open (nobody's bond is at stake then).

Each function checks with the machine (a decision, nothing changes), journals the decision as a
typed event, and applies it through :mod:`darkpool.operator.apply`, the path replay takes too.
Side effects outside the journal (the root on chain) come after the journal entry and are
reconciled by reading the chain when they are retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from commit_reveal import CommitRecord, Phase, Receipt, Reveal, Salt, cyclic_gc_paused
from darkpool.domain import Account, Lots, OrderId, Side, Ticks, account
from darkpool.errors import (
    ChainError,
    DarkPoolError,
    MarginError,
    PhaseError,
    PolicyViolation,
    ValidationError,
)
from darkpool.ledger import Appended
from darkpool.margin import CapRequest, joint_caps
from darkpool.operator.apply import extra_orders
from darkpool.operator.core import OperatorCore
from darkpool.operator.events import (
    CommitEntry,
    CommitsAccepted,
    LiquidationEntry,
    Mode,
    RevealEntry,
    RevealsAccepted,
    RoundCleared,
    RoundSealed,
    SealPosted,
)
from darkpool.operator.state import CommitRevealState, require
from darkpool.signing import Signed

__all__ = ["clear_round", "commit", "commit_many", "receipt", "reveal", "reveal_many", "seal"]


def _state(core: OperatorCore, round_id: int) -> CommitRevealState:
    state = core.get_round(round_id)
    require(state, Mode.COMMIT_REVEAL)
    assert isinstance(state, CommitRevealState)
    if state.abandoned:
        raise PhaseError(f"round {round_id} was abandoned")
    return state


def commit(core: OperatorCore, round_id: int, signed: Signed) -> Appended:
    """Accept one signed commitment with its bond (commit phase); raise its error otherwise."""
    appended, rejected = commit_many(core, round_id, [signed])
    if rejected:
        raise rejected[0]
    assert appended is not None
    return appended


@cyclic_gc_paused()
def commit_many(core: OperatorCore, round_id: int,
                signed: Sequence[Signed]) -> tuple[Appended | None, dict[int, DarkPoolError]]:
    """Check many signed commitments, journal the valid ones as one event; return the refusals by index.

    Beyond the machine's checks (signature, domain, round, expiry, nonce, bond), each account's
    bonds must fit its free balance.
    """
    with core.lock:
        now = core.tick()
        state = _state(core, round_id)
        core.require_tradable(state.round.instrument, now)
        outcome = state.machine.check_commits(signed)
        rejected = dict(outcome.rejected)
        records: list[CommitRecord] = []
        wanted: dict[Account, int] = {}
        index = iter(i for i in range(len(signed)) if i not in outcome.rejected)
        for record in outcome.accepted:
            position = next(index)
            # Every commitment is backed by collateral: an unfunded key cannot grow a round.
            total = wanted.get(record.account, 0) + record.bond
            free = core.free_balance(record.account)
            if total > free or free <= 0:
                rejected[position] = PolicyViolation(
                    f"bond {record.bond} exceeds the free balance {free - total + record.bond} of {record.account}"
                    if total > free else f"{record.account} has no free collateral to back a commitment")
                continue
            wanted[record.account] = total
            records.append(record)
        if not records:
            return None, dict(sorted(rejected.items()))
        if len(records) < len(outcome.accepted):  # a bond refusal left a gap: priorities stay dense
            base = records[0].priority
            records = [r._replace(priority=base + k) for k, r in enumerate(records)]
        entries = tuple(CommitEntry(r.account, r.nonce, r.commitment, r.bond, r.expiry, r.signature, r.order_id,
                                    r.priority) for r in records)
        appended = core.accept(CommitsAccepted(round_id, entries, now), records)
        return appended, dict(sorted(rejected.items()))


def seal(core: OperatorCore, round_id: int) -> Appended:
    """Seal the commitments root (after the commit phase) and post it on chain.

    Sealing again a round whose root is journaled but not yet on chain (the chain call failed,
    or the operator crashed in between) only posts it: the chain is read first, so a root already
    there is recorded, not sent twice. Returns the last journal entry written.
    """
    with core.lock:
        now = core.tick()
        state = _state(core, round_id)
        if state.machine.seal_record is None:
            sealed = state.machine.prepare_seal()
            count = len(state.machine.commitments())
            core.accept(RoundSealed(round_id, sealed.root, count, sealed.statement.signature, now), sealed)
        elif state.posted:
            raise PhaseError(f"round {round_id} is already sealed and its root is on chain")
        return _post_root(core, state)


def _post_root(core: OperatorCore, state: CommitRevealState) -> Appended:
    """Put a journaled root on chain once (a zero root, or no chain, needs nothing)."""
    sealed = state.machine.seal_record
    assert sealed is not None
    settler = core.settler
    if settler is None or sealed.layout is None:
        return core.accept(SealPosted(state.round_id, None, core.tick()))
    root = "0x" + sealed.root.hex()
    try:
        on_chain = settler.commitments_root(state.round_id)
    except DarkPoolError as exc:
        raise ChainError(f"cannot read round {state.round_id}'s root on chain: {exc}") from exc
    if on_chain == root:
        return core.accept(SealPosted(state.round_id, None, core.tick()))
    if int(on_chain, 16) != 0:
        raise ChainError(f"round {state.round_id} has another root on chain ({on_chain}); ours is {root}")
    tx = settler.seal_round(state.round_id, root)
    return core.accept(SealPosted(state.round_id, tx, core.tick()))


def reveal(core: OperatorCore, round_id: int, holder: str, nonce: int, side: int, limit_ticks: int,
           quantity_lots: int, salt: bytes) -> Appended:
    """Open one commitment; a reveal that does not open it raises the opaque InvalidReveal."""
    try:
        opening = Reveal(account(holder), nonce, Side(side), Ticks(limit_ticks), Lots(quantity_lots), Salt(salt))
    except ValueError as exc:
        raise ValidationError(f"reveal fields do not fit their ABI types: {exc}") from None
    appended, rejected = reveal_many(core, round_id, [opening])
    if rejected:
        raise rejected[0]
    assert appended is not None
    return appended


@cyclic_gc_paused()
def reveal_many(core: OperatorCore, round_id: int,
                reveals: Sequence[Reveal]) -> tuple[Appended | None, dict[int, DarkPoolError]]:
    """Open many commitments (reveal phase, root on chain); journal the valid ones as one event.

    Each reveal's margin cap is judged now and journaled with it; a reveal whose margin cannot
    be judged (a stale mark) is accepted and its bond returned, but it trades nothing.
    """
    with core.lock:
        now = core.tick()
        state = _state(core, round_id)
        if state.machine.seal_record is not None and not state.posted:
            raise PhaseError(f"round {round_id}'s commitments root is not on chain yet: reveals open once it is")
        decision = state.machine.check_reveals(reveals)
        if not decision.accepted:
            return None, dict(decision.rejected)
        r = state.round
        requests = [CapRequest(o.account, r.instrument, o.side,
                               Ticks(max(0, min(max(o.limit_ticks, r.band_low_ticks), r.band_high_ticks))),
                               Lots(o.quantity_lots)) for o in decision.accepted]
        try:
            # Judged jointly per account and side with the round's earlier reveals (see darkpool.margin._joint).
            caps = joint_caps(core.margin, requests, now, state.allocated)
        except MarginError:
            caps = [Lots(0)] * len(requests)
        entries = tuple(RevealEntry(o.account, o.nonce, int(o.side), o.limit_ticks, o.quantity_lots, o.salt,
                                    min(decision.capped.get(o.key, o.quantity_lots), cap))
                        for o, cap in zip(decision.accepted, caps, strict=True))
        capped = {(e.account, e.nonce): Lots(e.traded_lots) for e in entries if e.traded_lots < e.quantity_lots}
        appended = core.accept(RevealsAccepted(round_id, entries, now), (decision.accepted, capped))
        return appended, dict(decision.rejected)


@cyclic_gc_paused()
def clear_round(core: OperatorCore, round_id: int) -> Appended:
    """Clear the revealed orders with the liquidation queue's reduce-only orders after them.

    Liquidation orders of the round's instrument (accounts under maintenance margin, sized by
    the margin engine to restore health) come after every client in time priority, so they never
    displace one; the publication lists them as the operator's extra orders. A round whose fills
    cannot be booked now (a stale mark) is refused, changing nothing.
    """
    with core.lock:
        now = core.tick()
        state = _state(core, round_id)
        machine = state.machine
        if machine.phase not in (Phase.REVEAL, Phase.CLEARING):
            raise PhaseError(f"round {round_id} is in phase {machine.phase.value}; clearing needs reveal or clearing")
        last = max((c.priority for c in machine.commitments()), default=-1)
        liquidations = [
            LiquidationEntry(OrderId(f"liquidation:{round_id}:{k}:{o.account}"), o.account, int(o.side),
                             int(o.limit_ticks), int(o.quantity_lots), last + k)
            for k, o in enumerate((o for o in core.margin.liquidation_orders(now)
                                   if o.instrument == state.round.instrument), start=1)
        ]
        event = RoundCleared(round_id, tuple(liquidations), None, 0, now)
        clearing = machine.prepare_clear(extra_orders(event))
        if clearing.result.volume_lots:
            core.margin.risk(now)  # raises StaleMark before anything is journaled
        result = clearing.result
        return core.accept(replace(event, price_ticks=result.price_ticks, volume_lots=int(result.volume_lots)),
                           clearing)


def receipt(core: OperatorCore, round_id: int, holder: str, nonce: int) -> Receipt:
    """The operator-signed receipt that commitment ``(holder, nonce)`` is in the sealed root."""
    with core.lock:
        return _state(core, round_id).machine.receipt(holder, nonce)
