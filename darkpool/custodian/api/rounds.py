"""Rounds at the custodian: masks drawn, masks sealed to the slots' own accounts, decryption once."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from darkpool.custodian.api.deps import Core, OperatorOnly
from darkpool.custodian.api.schemas import (
    AbortedView,
    AbortRequest,
    DecryptedView,
    DecryptRequest,
    MaskRequestBody,
    MaskView,
    OpenedRoundView,
    OpenRoundRequest,
    OpenRoundsView,
    SealedBoxView,
)
from darkpool.errors import ValidationError
from darkpool.signing import MaskRequest, SlotGrant, SlotReservation, signed_from_wire, signed_to_wire
from darkpool.signing.statements import EvaluationAttested
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/rounds", tags=["rounds"])


@router.post("")
def open_round(body: OpenRoundRequest, core: Core, _: OperatorOnly) -> OpenedRoundView:
    """Draw a round's masks and return Enc(R) (base64) with the circuit shape (operator only)."""
    opened = core.open_round(str(body.round_id), body.slots, body.levels, body.max_quantity, body.operator,
                             body.groups)
    return OpenedRoundView(**{**asdict(opened), "masks": base64.b64encode(opened.masks).decode()})


@router.get("")
def open_rounds(operator: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")], core: Core,
                _: OperatorOnly) -> OpenRoundsView:
    """The ids of the rounds held open for ``operator`` (operator only): what it reconciles its journal with."""
    return OpenRoundsView(open=[int(round_id) for round_id in core.open_rounds(operator)])


@router.post("/{round_id}/mask")
def issue_mask(round_id: int, body: MaskRequestBody, core: Core) -> MaskView:
    """Seal the slot's mask digits to the requester's box key, for its signed request, its own signed
    reservation and the operator's grant of the slot; the response is signed by the custodian."""
    signed = signed_from_wire(body.request.model_dump(), MaskRequest)
    reservation = signed_from_wire(body.reservation.model_dump(), SlotReservation)
    grant = signed_from_wire(body.grant.model_dump(), SlotGrant)
    message = signed.message
    assert isinstance(message, MaskRequest)
    if message.round_id != round_id:
        raise ValidationError(f"request is for round {message.round_id}, not {round_id}")
    mask = core.issue_mask(signed, reservation, grant)
    return MaskView(round_id=mask.round_id, slot=mask.slot, box=SealedBoxView(**mask.box.to_wire()),
                    delivery=SignedEnvelope(**signed_to_wire(mask.delivery)))


@router.post("/{round_id}/decrypt")
def decrypt(round_id: int, body: DecryptRequest, core: Core, _: OperatorOnly) -> DecryptedView:
    """Decrypt the round's declared outputs once, for its transcript hash (operator only)."""
    outputs = _ciphertexts(body.outputs)
    attestations = [(signed_from_wire(a.attestation.model_dump(), EvaluationAttested), _ciphertexts(a.outputs))
                    for a in body.attestations]
    out = core.decrypt(str(round_id), body.circuit_id, body.masks_digest, body.inputs_commitment,
                       body.transcript_hash, outputs, attestations, body.caps)
    return DecryptedView(round_id=out.round_id, rank=out.rank, volume_lots=out.volume_lots, fills=list(out.fills),
                         sides=list(out.sides))



@router.post("/{round_id}/abort")
def abort(round_id: int, body: AbortRequest, core: Core, _: OperatorOnly) -> AbortedView:
    """Abort a round the operator cannot finish (operator only): masks spent, nothing decrypted; idempotent."""
    return AbortedView(round_id=str(round_id), reason=core.abort(str(round_id), body.reason))

def _ciphertexts(encoded: list[str]) -> list[bytes]:
    try:
        return [base64.b64decode(o, validate=True) for o in encoded]
    except (binascii.Error, ValueError):
        raise ValidationError("outputs must be base64 ciphertexts") from None
