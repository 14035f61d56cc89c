"""Rounds at the custodian: masks drawn, slot owners, masks issued to their owners, decryption once."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict

from fastapi import APIRouter

from darkpool.custodian.api.deps import Core, OperatorOnly
from darkpool.custodian.api.schemas import (
    DecryptedView,
    DecryptRequest,
    MaskView,
    OpenedRoundView,
    OpenRoundRequest,
    SlotAssigned,
    SlotOwnerRequest,
)
from darkpool.domain import account
from darkpool.errors import ValidationError
from darkpool.signing import MaskRequest, signed_from_wire
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/rounds", tags=["rounds"])


@router.post("")
def open_round(body: OpenRoundRequest, core: Core, _: OperatorOnly) -> OpenedRoundView:
    """Draw a round's masks and return Enc(R) (base64) with the circuit shape (operator only)."""
    opened = core.open_round(str(body.round_id), body.slots, body.levels, body.max_quantity)
    return OpenedRoundView(**{**asdict(opened), "masks": base64.b64encode(opened.masks).decode()})


@router.post("/{round_id}/slots")
def assign_slot(round_id: int, body: SlotOwnerRequest, core: Core, _: OperatorOnly) -> SlotAssigned:
    """Record which account owns a slot (operator only)."""
    core.assign_slot(str(round_id), body.slot, account(body.account))
    return SlotAssigned(round_id=round_id, slot=body.slot)


@router.post("/{round_id}/mask")
def issue_mask(round_id: int, body: SignedEnvelope, core: Core) -> MaskView:
    """Give the slot's mask digits to its own account (signed MaskRequest), once."""
    signed = signed_from_wire(body.model_dump(), MaskRequest)
    message = signed.message
    assert isinstance(message, MaskRequest)
    if message.round_id != round_id:
        raise ValidationError(f"request is for round {message.round_id}, not {round_id}")
    mask = core.issue_mask(signed)
    return MaskView(round_id=mask.round_id, slot=mask.slot, digits=list(mask.digits))


@router.post("/{round_id}/decrypt")
def decrypt(round_id: int, body: DecryptRequest, core: Core, _: OperatorOnly) -> DecryptedView:
    """Decrypt the round's declared outputs once, for its transcript hash (operator only)."""
    try:
        outputs = [base64.b64decode(o, validate=True) for o in body.outputs]
    except (binascii.Error, ValueError):
        raise ValidationError("outputs must be base64 ciphertexts") from None
    out = core.decrypt(str(round_id), body.circuit_id, body.masks_digest, body.inputs_commitment,
                       body.transcript_hash, outputs)
    return DecryptedView(round_id=out.round_id, rank=out.rank, volume_lots=out.volume_lots, fills=list(out.fills))
