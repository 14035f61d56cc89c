"""A disclosed slot mask: the proof that a public order sits in an FHE slot exactly as published.

The operator places a liquidation (a public order) in an FHE slot it holds, and discloses that
slot's mask: its own signed :class:`~darkpool.signing.MaskRequest`, the custodian's signed
:class:`~darkpool.signing.MaskDelivery`, the sealed box and the one-off key the box was sealed to.
Anyone holding the round's public terms can then check, before the round is evaluated (a verifier)
or after (an auditor), that the slot's masked digits are the published order encoded as every
client encodes (:mod:`fhe.encoding`) and masked with the custodian's mask for that very slot — so a
liquidation slot cannot carry a chosen input under the cover of a published order.
"""

from __future__ import annotations

import json

from darkpool.crypto.boxes import BoxKey, SealedBox
from darkpool.domain import Order, Round
from darkpool.signing.messages import MaskRequest, SigningDomain
from darkpool.signing.statements import MaskDelivery, mask_box_context, statement_signer
from darkpool.signing.wire import signed_from_wire

__all__ = ["disclosed_mask_problem"]


def disclosed_mask_problem(domain: SigningDomain, operator: str, custodian: str, round_id: int, slot: int,
                           disclosed: str, round_: Round, shape: tuple[int, int, int], order: Order,
                           digits: bytes) -> str | None:
    """What is wrong with ``digits`` as slot ``slot``'s encoding of the public ``order``, or None.

    ``disclosed`` is the JSON text of the disclosure (``request``, ``delivery``, ``box``, ``key``);
    ``shape`` the round circuit's slots, levels and quantity digits; ``operator`` and ``custodian``
    the addresses that must have signed the request and the delivery.
    """
    from fhe.encoding import SlotMask, mask_digits, order_digits
    from fhe.shape import Shape

    found = json.loads(disclosed)
    request, delivery = signed_from_wire(found["request"], MaskRequest), signed_from_wire(found["delivery"],
                                                                                          MaskDelivery)
    asked, said, box = request.message, delivery.message, SealedBox.from_wire(found["box"])
    if not isinstance(asked, MaskRequest) or not isinstance(said, MaskDelivery):
        return "the disclosure holds no mask request and delivery"
    operator, custodian = operator.lower(), custodian.lower()
    if statement_signer(request, domain) != operator or (asked.round_id, asked.slot) != (round_id, slot):
        return "the disclosed mask was not asked for by the operator for this slot"
    if not custodian or statement_signer(delivery, domain) != custodian or (
            said.account.lower(), said.round_id, said.slot, said.request, said.box) != (
            operator, round_id, slot, asked.digest(domain), box.digest):
        return f"the disclosed mask is not the one the round's custodian {custodian or '(unknown)'} delivered"
    key = BoxKey(bytes.fromhex(str(found["key"])[2:]))
    if key.public != asked.box_key:
        return "the disclosed key is not the one the mask was sealed to"
    mask = key.open(box, mask_box_context(domain, round_id, slot, operator))
    plain = order_digits(Shape(*shape), round_, order)
    if bytes(mask_digits(plain, SlotMask(str(round_id), slot, tuple(mask)))) != bytes(digits):
        return "the slot's digits do not encode the published order under its disclosed mask"
    return None
