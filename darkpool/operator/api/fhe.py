"""FHE rounds: reserve a slot, submit a masked order, open the side of a filled slot."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from darkpool.errors import ValidationError
from darkpool.operator import rounds_fhe as fr
from darkpool.operator.api.deps import Core, parse_limited
from darkpool.operator.api.schemas import SlotResponse
from darkpool.operator.state import FheState
from darkpool.signing import FheOrder, SlotReservation, signed_to_wire
from darkpool.web.http import AckResponse, ack
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/rounds", tags=["fhe rounds"])


def _same_round(round_id: int, message: Any) -> None:
    if message.round_id != round_id:
        raise ValidationError(f"message is for round {message.round_id}, not {round_id}")


@router.post("/{round_id}/slots", status_code=201)
async def reserve_slot(round_id: int, body: SignedEnvelope, core: Core, request: Request) -> SlotResponse:
    """Reserve the next free input slot of an open FHE round; answer with the operator's signed grant."""
    signed = parse_limited(body.model_dump(), SlotReservation, request)
    _same_round(round_id, signed.message)
    appended, slot, grant = fr.reserve_slot(core, signed)
    done = await ack(appended)
    state = core.get_round(round_id)
    assert isinstance(state, FheState)
    return SlotResponse(seq=done.seq, head=done.head, slot=slot, fhe=asdict(state.info),
                        grant=SignedEnvelope(**signed_to_wire(grant)))


class FheOrderSubmission(BaseModel):
    """A signed FHE order and, beside it (for the operator only), the masked digits and the salt
    that open its ``digits_commitment``."""

    model_config = ConfigDict(extra="forbid")
    order: SignedEnvelope
    masked_digits: str = Field(pattern=r"^0x([0-9a-fA-F]{2}){1,256}$")
    digits_salt: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


@router.post("/{round_id}/orders", status_code=202)
async def submit_order(round_id: int, body: FheOrderSubmission, core: Core, request: Request) -> AckResponse:
    """Accept a signed FHE order for the signer's slot with the opening of its digits commitment."""
    signed = parse_limited(body.order.model_dump(), FheOrder, request)
    _same_round(round_id, signed.message)
    return await ack(fr.submit_order(core, signed, bytes.fromhex(body.masked_digits[2:]),
                                     bytes.fromhex(body.digits_salt[2:])))

