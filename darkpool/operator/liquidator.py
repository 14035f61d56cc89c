"""The liquidation queue in FHE rounds: the operator takes free slots as liquidator for the queue's public orders.

Liquidation orders are public (they are journaled and published like a commit-reveal round's extra
orders), so they need no privacy, but they must enter the circuit the way every order does, as
masked digits behind a signed commitment, so nothing in the custodian's or the verifiers' rules
bends for them. At an FHE round's close, before its caps are computed, the operator:

1. takes the queue's reduce-only orders of the round's instrument (:meth:`MarginEngine.liquidation_orders`,
   worst margin ratio first) and, for each while a slot is free, reserves the next free slot as
   itself (a :class:`SlotReserved` of its own signed reservation, journaled before anything leaves);
2. asks the custodian for that slot's mask as any holder does (its signed :class:`MaskRequest`, its
   reservation and its own :class:`SlotGrant`), checks the custodian's signed delivery and opens the box
   with a one-off key, which it discloses: the mask of a public order's slot is no secret, and with it
   anyone checks that the slot's digits encode exactly the published order;
3. encodes the public order with the SDK's encoding (:func:`fhe.encoding.order_digits`,
   :func:`fhe.encoding.mask_digits`), commits to the masked digits with a fresh salt and signs the
   :class:`FheOrder` with its own key. Steps 2 and 3 run without the core's lock (the round is frozen
   meanwhile: no slot, order, cancel or abandon), so a slow custodian never stalls other requests;
4. journals every such order at once (:class:`FheLiquidationsPlaced`, public: account, side, limit,
   quantity, slot, the signed order, the digits and their salt, the disclosed mask), then the margin
   basis they were planned on, read under the lock at step 1 (a private :class:`FheCapsBasis`, as the
   caps'), so what changes while the masks are fetched does not touch it; the slot then holds
   the liquidated account, so its fill books there, with the side the circuit decrypts.

The cap of a liquidation slot is its quantity (reduce-only: it needs no margin). Verifiers evaluate
a slot signed by the operator only if the round's request lists it as a liquidation, and refuse a
listed liquidation whose order anyone else signed (:mod:`darkpool.verifier.core`); auditors check the
encoding against the disclosed mask and recompute the queue from the basis journaled with the
placement (:mod:`darkpool.audit._liquidations`). The custodian sees a MaskRequest like any other and never the
digits. Why not clear the liquidations after the round, at its price, against what is left: the
round decrypts fills only, not the curves, so nobody could say what was left or check it, and the
clearing rule of DESIGN.md §2 takes every order into one auction.

Slots go to clients first: a liquidation finds a slot only if clients left one free by the close,
else it waits for the instrument's next round (commit-reveal or FHE). One round of an instrument
runs at a time (:meth:`OperatorCore.open_round`), so a placed liquidation is never cut again in
another round before its fill books. A crash or a custodian that does not answer between a
reservation and the placement leaves that slot the operator's and empty (cap 0); the retried close
places the liquidations there first, then in slots still free. A close retried
after a failed evaluation keeps the liquidations placed at the first attempt, judged on their own basis.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from darkpool.crypto.boxes import BoxKey, SealedBox
from darkpool.domain import Account, Lots, Order, OrderId, Side, Ticks
from darkpool.errors import ForeignKey, MarginError
from darkpool.ledger import Appended
from darkpool.margin import LiquidationOrder
from darkpool.operator.core import OperatorCore
from darkpool.operator.events import FheCapsBasis, FheLiquidation, FheLiquidationsPlaced, SlotReserved, wire_text
from darkpool.operator.state import FheState
from darkpool.signing import (
    FheOrder,
    MaskDelivery,
    MaskRequest,
    Signed,
    SlotReservation,
    digits_commitment,
    sign,
    signed_from_wire,
    signed_to_wire,
    statement_signer,
)
from darkpool.signing.statements import mask_box_context

__all__ = ["LiquidationPlan", "place_planned", "plan_liquidations"]

_EXPIRY_S = 3600


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    """Liquidations chosen and their slots reserved (journaled) under the core's lock, masks not yet fetched."""

    now: int
    orders: tuple[tuple[int, LiquidationOrder], ...]
    """(rank in the queue, the reduce-only order) per placement."""
    slots: tuple[tuple[int, Signed, Signed], ...]
    """(slot, the operator's reservation, its grant) per placement."""
    durable: Appended | None
    """The last reservation journaled by this plan (None if all were reserved at an earlier attempt)."""
    basis: str
    """The margin basis the orders were planned on, as it reads once they are placed."""


def plan_liquidations(core: OperatorCore, state: FheState, now: int, grant: Callable[[Signed, int], Signed],
                      basis: Callable[[dict[int, Account]], str]) -> LiquidationPlan | None:
    """Under the core's lock: choose the queue's orders of the round's instrument for its free slots and reserve
    those slots as the operator; None if nothing is to be placed. ``basis`` gives the margin basis with the
    planned slots' holders added (the basis as it will read once they are placed)."""
    if state.liquidations:
        return None  # placed at an earlier attempt to close this round
    info = state.info
    try:
        queued = [o for o in core.margin.liquidation_orders(now) if o.instrument == state.round.instrument]
    except MarginError:  # margin cannot be judged now (a stale mark): the queue waits for the next round
        return None
    # Slots the operator reserved at an earlier attempt that failed before placing (the custodian did not
    # answer): used first, so retries do not eat the round's free slots.
    idle = [slot for slot, holder in sorted(state.slots.items())
            if holder == core.operator_address and slot not in state.liquidations and slot not in state.orders]
    free = info.slots - len(state.slots) + len(idle)
    wanted = [(k, o) for k, o in enumerate(queued[:max(0, free)], start=1) if min(o.quantity_lots, info.max_quantity)]
    if not wanted:
        return None
    reserved = [(idle[n], _reservation(core, state, now), None) if n < len(idle) else _reserve(core, state, now)
                for n in range(len(wanted))]
    holders = {slot: order.account for (_, order), (slot, _, _) in zip(wanted, reserved, strict=True)}
    return LiquidationPlan(now, tuple(wanted), tuple((slot, r, grant(r, slot)) for slot, r, _ in reserved),
                           reserved[-1][2], basis(holders))


def place_planned(core: OperatorCore, state: FheState, plan: LiquidationPlan, backend: Any) -> Appended:
    """Without the core's lock (the round frozen meanwhile): get each planned slot's mask from the custodian,
    encode and sign the orders; then, under the lock, journal them and the basis they were planned on."""
    # Durable before a mask request leaves: a restarted operator knows these slots are its own, so it never
    # grants one to a client once the custodian has seen it granted to the operator.
    if plan.durable is not None:
        plan.durable.wait()
    info, placed = state.info, []
    for (k, order), (slot, reservation, granted) in zip(plan.orders, plan.slots, strict=True):
        digits, disclosed = _mask(core, state, slot, reservation, granted, plan.now, backend)
        placed.append(_encode(core, state, slot, digits, OrderId(f"liquidation:{state.round_id}:{k}:{order.account}"),
                              order.account, int(order.side), int(order.limit_ticks),
                              min(int(order.quantity_lots), info.max_quantity), plan.now, disclosed))
    with core.lock:
        core.accept(FheLiquidationsPlaced(state.round_id, tuple(placed), core.tick()))
        return core.accept(FheCapsBasis(state.round_id, plan.basis, core.tick()))


def _reservation(core: OperatorCore, state: FheState, now: int) -> Signed:
    """The operator's own signed reservation of a slot of the round, as a client signs one."""
    return sign(SlotReservation(account=core.operator_address, instrument=state.round.instrument,
                                round_id=state.round_id, nonce=secrets.randbits(62), expiry=now + _EXPIRY_S),
                core.verifier.domain, core.config.operator_key)


def _reserve(core: OperatorCore, state: FheState, now: int) -> tuple[int, Signed, Appended | None]:
    """Reserve the next free slot as the operator, journaled before its mask is asked for."""
    reservation = _reservation(core, state, now)
    message = reservation.message
    assert isinstance(message, SlotReservation)
    slot = len(state.slots)
    appended = core.accept(SlotReserved(state.round_id, slot, core.operator_address, message.nonce,
                                        wire_text(signed_to_wire(reservation)), now))
    return slot, reservation, appended


def _mask(core: OperatorCore, state: FheState, slot: int, reservation: Signed, grant: Signed, now: int,
          backend: Any) -> tuple[tuple[int, ...], str]:
    """The slot's mask digits, from the custodian as any holder gets them (sealed to a fresh key, signed), and
    the disclosure that lets anyone open them: request, delivery, box and key, as JSON text."""
    domain, operator = core.verifier.domain, core.operator_address
    key = BoxKey()
    request = sign(MaskRequest(account=operator, round_id=state.round_id, slot=slot, box_key=key.public,
                               nonce=secrets.randbits(62), expiry=now + _EXPIRY_S), domain, core.config.operator_key)
    answer = backend.mask(state.round_id, {"request": signed_to_wire(request),
                                           "reservation": signed_to_wire(reservation),
                                           "grant": signed_to_wire(grant)})
    delivery = signed_from_wire(answer["delivery"], MaskDelivery)
    box = SealedBox.from_wire(answer["box"])
    said = delivery.message
    assert isinstance(said, MaskDelivery)
    custodian = state.info.custodian
    if custodian and statement_signer(delivery, domain) != custodian.lower():
        raise ForeignKey(f"the mask delivery is not signed by the round's custodian {custodian}")
    expected = (operator, state.round_id, slot, request.message.digest(domain), box.digest)
    if (said.account.lower(), said.round_id, said.slot, said.request, said.box) != expected:
        raise ForeignKey("the custodian's signed delivery is for another request or another box")
    digits = tuple(int(d) for d in key.open(box, mask_box_context(domain, state.round_id, slot, operator)))
    disclosed = {"request": signed_to_wire(request), "delivery": answer["delivery"], "box": box.to_wire(),
                 "key": "0x" + key.unsafe_disclose().hex()}
    return digits, json.dumps(disclosed, sort_keys=True, separators=(",", ":"))


def _encode(core: OperatorCore, state: FheState, slot: int, mask: tuple[int, ...], order_id: OrderId,
            holder: Account, side: int, limit_ticks: int, quantity: int, now: int, disclosed: str) -> FheLiquidation:
    """Encode and mask the public order as a client's SDK does, commit to the digits, sign the FheOrder."""
    from fhe.encoding import SlotMask, mask_digits, order_digits
    from fhe.shape import Shape

    r, info = state.round, state.info
    shape = Shape(info.slots, info.levels, info.quantity_digits)
    plain = order_digits(shape, r, Order(order_id, Side(side), Ticks(limit_ticks), Lots(quantity), slot))
    masked = bytes(mask_digits(plain, SlotMask(str(state.round_id), slot, mask)))
    salt = secrets.token_bytes(32)
    order = sign(FheOrder(account=core.operator_address, instrument=r.instrument, round_id=state.round_id, slot=slot,
                          digits_commitment=digits_commitment(masked, salt), reference_ticks=r.reference_ticks,
                          band_low_ticks=r.band_low_ticks, levels=r.levels, circuit_id=info.circuit_id,
                          nonce=secrets.randbits(62), expiry=now + _EXPIRY_S),
                 core.verifier.domain, core.config.operator_key)
    return FheLiquidation(slot, order_id, holder, side, limit_ticks, quantity, wire_text(signed_to_wire(order)),
                          masked, salt, disclosed)
