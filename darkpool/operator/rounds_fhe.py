"""FHE rounds on the operator: slots, masked orders, encrypted clearing, fills booked from the outputs.

The operator never holds a secret key and never sees an order's limit or size, nor the side of
an order that does not fill: it stores masked digits (sealed in its journal, see
:mod:`darkpool.crypto.sealing`), runs the circuit on ``Enc(R)`` and the digits through an
:class:`FheBackend`, and has the custodian decrypt only the round's outputs: price, volume, each
slot's fill and each *filled* slot's side. The fills book at once, with no client action.

Phases (the vocabulary of :class:`commit_reveal.Phase`): ``commit`` takes slots and orders, the
admin's clear evaluates and decrypts, then ``cleared``; ``reveal`` only while decrypted fills wait
for a fresh mark (booked by the next one). A round can be abandoned before it is decrypted.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from commit_reveal import Phase
from darkpool.domain import Account, Side, account
from darkpool.errors import (
    InvalidReveal,
    NotConfigured,
    PhaseError,
    PolicyViolation,
    ServiceUnavailable,
    ValidationError,
)
from darkpool.ledger import Appended
from darkpool.margin import margin_snapshot
from darkpool.operator.core import OperatorCore
from darkpool.operator.events import (
    FheCapsBasis,
    FheEvaluated,
    FheEvaluationFailed,
    FheOrderAccepted,
    FheSidesDecrypted,
    Mode,
    SlotReserved,
    wire_text,
)
from darkpool.operator.liquidator import place_planned, plan_liquidations
from darkpool.operator.publication import liquidation_terms
from darkpool.operator.state import FheState, require
from darkpool.signing import (
    FheOrder,
    Signed,
    SlotGrant,
    SlotReservation,
    digits_commitment,
    sign,
    signed_to_wire,
)

__all__ = ["FheBackend", "SlotInput", "clear_fhe_round", "reserve_slot", "slot_grant", "slot_inputs",
           "spend_orphans", "submit_order"]


@dataclass(frozen=True)
class SlotInput:
    """One filled slot as the circuit takes it: masked digits and cap; with the client's signed order
    (wire form) and the digits' salt, which open its commitment for the round's verifiers."""

    digits: list[int]
    cap: int
    order: dict[str, Any]
    salt: bytes
    liquidation: dict[str, Any] | None = None
    """A liquidation slot's public terms (:func:`darkpool.operator.publication.liquidation_terms`); its order
    is the operator's."""


class FheBackend(Protocol):
    """The operator's FHE side: custodian calls and evaluation with evaluation keys only."""

    def open_round(self, round_id: int, slots: int, levels: int) -> dict[str, Any]:
        """Have the custodian issue the round's masks; return its public description (shape, digests)."""
        ...

    def clear(self, round_id: int, info: dict[str, Any], orders: dict[int, SlotInput], instrument: str,
              reference_ticks: int, band_low_ticks: int, levels: int) -> dict[str, Any]:
        """Evaluate (and have the verifiers re-evaluate), have the custodian decrypt; return price_ticks,
        volume_lots, per-slot fills, transcript."""
        ...

    def open_rounds(self) -> list[int]:
        """The ids of the rounds the custodian holds open for this operator."""
        ...

    def abort(self, round_id: int, reason: str) -> None:
        """Have the custodian spend an abandoned round's masks."""
        ...

    def mask(self, round_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Ask the custodian for a slot's mask as its holder (the operator's liquidation slots); return the
        sealed box and the custodian's signed delivery."""
        ...


def _backend(core: OperatorCore) -> FheBackend:
    backend = core.fhe_backend
    if backend is None:
        raise NotConfigured("this operator has no FHE backend (custodian) configured")
    return backend  # type: ignore[no-any-return]


def spend_orphans(core: OperatorCore) -> list[int]:
    """Spend at the custodian every round it holds open for this operator that the journal does not know.

    Such a round is an FHE open cut short: the custodian answered and the operator stopped before journaling
    it (a crash, or a failure after the answer). Nothing can use it, yet until it is spent the custodian
    keeps its epoch's secret key. Rounds being opened now are left alone. Returns the ids spent.
    """
    backend = _backend(core)
    held = backend.open_rounds()  # custodian calls never hold the lock
    with core.lock:
        orphans = [rid for rid in held if rid not in core.rounds and rid not in core.opening]
    for round_id in orphans:
        backend.abort(round_id, "not in the operator's journal: an open cut short by a restart")
    return orphans


def _fhe_round(core: OperatorCore, round_id: int, phase: Phase, *, frozen: bool = False) -> FheState:
    """The FHE round ``round_id`` in ``phase``; refused while it is being evaluated unless ``frozen`` is
    expected (the clear that froze it reading its inputs)."""
    state = core.get_round(round_id)
    require(state, Mode.FHE, phase)
    assert isinstance(state, FheState)
    if state.evaluating and not frozen:
        raise PhaseError(f"round {round_id} is being evaluated: it takes nothing more until it clears")
    return state


def reserve_slot(core: OperatorCore, signed: Signed) -> tuple[Appended, int, Signed]:
    """Give the signer the next free slot of an open FHE round, with the operator's signed grant.

    Nothing is sent to the custodian: the client shows its own signed reservation and this grant
    there when it asks for the slot's mask, so the custodian's idea of who owns a slot is always a
    journaled reservation (nothing to reconcile after a crash) and never the operator's bare word.
    """
    message = signed.message
    if not isinstance(message, SlotReservation):
        raise ValidationError("expected a SlotReservation")
    with core.lock:
        now = core.tick()
        state = _fhe_round(core, message.round_id, Phase.COMMIT)
        if message.instrument != state.round.instrument:
            raise ValidationError(f"round {message.round_id} trades {state.round.instrument}")
        core.require_tradable(state.round.instrument, now)
        signer = Account(core.verifier.check(signed))
        if core.balance(signer) <= 0:
            raise PolicyViolation(f"{signer} has no collateral")
        slot = len(state.slots)
        if slot >= state.info.slots:
            raise PolicyViolation(f"round {message.round_id} has no free slot (of {state.info.slots})")
        _backend(core)
        event = SlotReserved(message.round_id, slot, signer, message.nonce, wire_text(signed_to_wire(signed)), now)
        return core.accept(event), slot, slot_grant(core, signed, slot)


def slot_grant(core: OperatorCore, reservation: Signed, slot: int) -> Signed:
    """The operator's countersignature of ``reservation`` for ``slot`` (deterministic, so re-signable)."""
    message = reservation.message
    assert isinstance(message, SlotReservation)
    domain = core.verifier.domain
    grant = SlotGrant(operator=core.operator_address, account=account(message.account), round_id=message.round_id,
                      slot=slot, reservation=message.digest(domain))
    return sign(grant, domain, core.config.operator_key)


def submit_order(core: OperatorCore, signed: Signed, digits: bytes, salt: bytes) -> Appended:
    """Accept a signed FHE order for the signer's own slot with the opening of its digits commitment.

    The signature covers only a hiding commitment to the digits and the round the client
    encoded against, which must be this round as announced; the digits and their salt are sealed
    at rest, so nothing journaled or published is a function of the order.
    """
    message = signed.message
    if not isinstance(message, FheOrder):
        raise ValidationError("expected an FheOrder")
    with core.lock:
        now = core.tick()
        state = _fhe_round(core, message.round_id, Phase.COMMIT)
        core.require_tradable(state.round.instrument, now)
        signer = Account(core.verifier.check(signed))
        if state.slots.get(message.slot) != signer:
            raise PolicyViolation(f"slot {message.slot} of round {message.round_id} is not {signer}'s")
        if message.slot in state.orders:
            raise PolicyViolation(f"slot {message.slot} already holds an order")
        r, info = state.round, state.info
        announced = (r.instrument, r.reference_ticks, r.band_low_ticks, r.levels, info.circuit_id)
        signed_for = (message.instrument, message.reference_ticks, message.band_low_ticks, message.levels,
                      message.circuit_id)
        if signed_for != announced:
            raise ValidationError(f"order encoded for {signed_for}, but round {message.round_id} is {announced}")
        width = info.digits_per_slot
        if len(digits) != width or any(d > 3 for d in digits):
            raise ValidationError(f"masked_digits must be {width} base-4 digits (bytes 0..3)")
        if len(salt) != 32 or not hmac.compare_digest(digits_commitment(digits, salt), message.digits_commitment):
            raise InvalidReveal("masked digits and salt do not open the order's digits commitment")
        sealed = core.sealer.seal(digits + salt, f"{message.round_id}:{message.slot}".encode())
        event = FheOrderAccepted(message.round_id, message.slot, signer, message.nonce, sealed,
                                 wire_text(signed_to_wire(signed)), now)
        return core.accept(event)


def _slot_cap(core: OperatorCore, state: FheState, holder: Account, max_lots: int, now: int) -> int:
    """The largest fill the account can afford on either side anywhere in the band (side is hidden)."""
    r = state.round
    buy = core.margin.cap(holder, r.instrument, Side.BUY, max(0, r.band_high_ticks), now, max_lots=max_lots)
    sell = core.margin.cap(holder, r.instrument, Side.SELL, max(0, r.band_low_ticks), now, max_lots=max_lots)
    return int(min(buy, sell))


def caps_basis(core: OperatorCore, state: FheState, now: int, planned: Mapping[int, Account] | None = None) -> str:
    """The margin inputs the round's caps are computed from at ``now``, as canonical JSON text; ``planned``
    adds liquidation slots not yet placed (slot -> the liquidated account), as the basis will read once they are."""
    r = state.round
    held = {slot: state.slots[slot] for slot in state.filled_slots()} | dict(planned or {})
    holders = {str(slot): held[slot] for slot in sorted(held)}
    return json.dumps({"round_id": state.round_id, "instrument": r.instrument, "band_low_ticks": r.band_low_ticks,
                       "band_high_ticks": r.band_high_ticks, "max_lots": state.info.max_quantity,
                       "slots": holders, "margin": margin_snapshot(core.margin, holders.values(), now)},
                      sort_keys=True, separators=(",", ":"))


def slot_inputs(core: OperatorCore, round_id: int, now: int) -> tuple[list[int], dict[int, SlotInput]]:
    """Each slot's cap (0 when empty) and each filled slot's circuit input with its client's opening (the
    operator's, with the public terms, for a liquidation slot)."""
    state = _fhe_round(core, round_id, Phase.COMMIT, frozen=True)
    info = state.info
    orders: dict[int, SlotInput] = {}
    caps = [0] * info.slots
    for slot, order in state.orders.items():
        caps[slot] = _slot_cap(core, state, state.slots[slot], info.max_quantity, now)
        opened = core.sealer.open(order.sealed_digits, f"{round_id}:{slot}".encode())
        orders[slot] = SlotInput(list(opened[:info.digits_per_slot]), caps[slot], json.loads(order.wire),
                                 bytes(opened[info.digits_per_slot:]))
    for slot, placed in state.liquidations.items():  # reduce-only: capped at its own quantity, not by margin
        caps[slot] = placed.quantity_lots
        orders[slot] = SlotInput(list(placed.digits), caps[slot], json.loads(placed.order), placed.salt,
                                 {**liquidation_terms(placed), "disclosed": placed.mask})
    return caps, orders


def clear_fhe_round(core: OperatorCore, round_id: int) -> Appended:
    """Place the liquidation queue's orders, cap each slot, evaluate the circuit, have the custodian decrypt the
    outputs, journal them, book the fills.

    Liquidations take the slots clients left free (:mod:`darkpool.operator.liquidator`); their fills book
    to the liquidated accounts.

    The evaluation (seconds to minutes) runs outside the core's lock, so the operator keeps taking
    requests and rounds of other instruments evaluate at the same time (on a Ray cluster, on other
    machines); the round itself is frozen meanwhile (``evaluating``: no slot, order, cancel or
    abandon) and its inputs are the ones read under the lock. A failed evaluation journals nothing
    and unfreezes the round: the admin retries or abandons it. The outputs are journaled as decrypted
    (public: price, volume, fills per slot; private: each filled slot's side) and the fills booked at
    once, or at the next fresh mark if the marks went stale meanwhile.
    """
    with core.lock:
        now = core.tick()
        state = _fhe_round(core, round_id, Phase.COMMIT)
        info, r = state.info, state.round
        backend = _backend(core)
        plan = plan_liquidations(core, state, now, lambda reservation, slot: slot_grant(core, reservation, slot),
                                 lambda planned: caps_basis(core, state, now, planned))
        state.evaluating = True  # frozen from here (no slot, order, cancel or abandon) until it clears or fails
    try:
        if plan is not None:  # the custodian's masks for the liquidation slots, fetched without the lock
            place_planned(core, state, plan, backend)
        with core.lock:
            now = core.tick()
            caps, orders = slot_inputs(core, round_id, now)
            basis = caps_basis(core, state, now)
        try:
            out = backend.clear(round_id, asdict(info), orders, r.instrument, r.reference_ticks, r.band_low_ticks,
                                r.levels)
        except ServiceUnavailable as failed:  # nothing decrypted: the round stays open, to clear again or abandon
            with core.lock:
                journaled = core.accept(FheEvaluationFailed(round_id, str(failed)[:500], core.tick()))
            journaled.wait()
            raise
    finally:
        with core.lock:
            state.evaluating = False
    with core.lock:
        now = core.tick()
        state = _fhe_round(core, round_id, Phase.COMMIT)
        taken = set(state.filled_slots())
        fills = tuple(int(out["fills"][slot]) if slot in taken else 0 for slot in range(info.slots))
        sides = tuple(None if not fills[slot] else int(out["sides"][slot]) for slot in range(info.slots))
        if any(fill and side not in (0, 1) for fill, side in zip(fills, sides, strict=True)):
            raise ValidationError("the custodian's outputs give a filled slot no side")
        event = FheEvaluated(round_id, tuple(caps), str(out["transcript_hash"]), out["price_ticks"],
                             int(out["volume_lots"]), fills, now)
        core.accept(FheCapsBasis(round_id, basis, now))
        appended = core.accept(event)
        appended = core.accept(FheSidesDecrypted(round_id, sides, now))
        return core.book_fhe_fills(now) or appended
