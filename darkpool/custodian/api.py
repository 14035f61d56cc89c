"""``create_custodian_app``: the key custodian's FastAPI app (``darkpool custodian``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from darkpool.custodian.core import CustodianCore
from darkpool.domain import account
from darkpool.signing import MaskRequest, SigningDomain, signed_from_wire
from darkpool.web.http import check_bearer, install_error_handlers
from darkpool.web.schemas import SignedEnvelope
from darkpool.web.settings import CustodianSettings, parse_shapes

__all__ = ["create_custodian_app"]


class OpenRound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    round_id: int = Field(ge=1)
    slots: int = Field(ge=1)
    levels: int = Field(ge=1)
    max_quantity: int = Field(ge=1)


class SlotOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slot: int = Field(ge=0)
    account: str


class Decrypt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    circuit_id: str
    masks_digest: str
    inputs_commitment: str
    transcript_hash: str
    outputs: list[str]


async def operator_only(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Let only the operator (its bearer token) open rounds, name slot owners and ask for decryptions."""
    check_bearer(authorization, request.app.state.settings.operator_token)


OperatorOnly = Annotated[None, Depends(operator_only)]


def create_custodian_app(settings: CustodianSettings, *, clock: Callable[[], int] | None = None) -> FastAPI:
    """Build the custodian app; keys are generated (or loaded) per circuit shape on first use."""
    core = CustodianCore(SigningDomain(settings.chain_id, settings.vault), clock or (lambda: int(time.time())),
                         Path(settings.key_dir), Path(settings.log),
                         Path(settings.cache_dir) if settings.cache_dir else None, settings.simulate)
    for slots, levels, max_quantity in parse_shapes(settings.shapes):
        core.prepare(slots, levels, max_quantity)
    app = FastAPI(title="darkpool key custodian", version="1",
                  description="Per-round masks, Enc(R), decryption of declared round outputs once, its log.")
    app.state.core = core
    app.state.settings = settings
    install_error_handlers(app)

    @app.post("/rounds", tags=["rounds"])
    def open_round(body: OpenRound, _: OperatorOnly) -> dict[str, Any]:
        """Draw a round's masks and return Enc(R) (base64) with the circuit shape (operator only)."""
        info = core.open_round(str(body.round_id), body.slots, body.levels, body.max_quantity)
        return {**info, "masks": base64.b64encode(info["masks"]).decode()}

    @app.get("/keys/{circuit_id}", tags=["keys"])
    def evaluation_keys(circuit_id: str) -> Response:
        """The circuit's evaluation keys (public)."""
        return Response(core.evaluation_keys(circuit_id), media_type="application/octet-stream")

    @app.post("/rounds/{round_id}/slots", tags=["rounds"])
    def assign_slot(round_id: int, body: SlotOwner, _: OperatorOnly) -> dict[str, Any]:
        """Record which account owns a slot (operator only)."""
        core.assign_slot(str(round_id), body.slot, account(body.account))
        return {"round_id": round_id, "slot": body.slot}

    @app.post("/rounds/{round_id}/mask", tags=["rounds"])
    def mask(round_id: int, body: SignedEnvelope) -> dict[str, Any]:
        """Give the slot's mask digits to its own account (signed MaskRequest), once."""
        signed = signed_from_wire(body.model_dump(), MaskRequest)
        if signed.message.round_id != round_id:  # type: ignore[attr-defined]
            from darkpool.errors import ValidationError

            raise ValidationError(f"request is for round {signed.message.round_id}")  # type: ignore[attr-defined]
        return core.issue_mask(signed)

    @app.post("/rounds/{round_id}/decrypt", tags=["rounds"])
    def decrypt(round_id: int, body: Decrypt, _: OperatorOnly) -> dict[str, Any]:
        """Decrypt the round's declared outputs once, for its transcript hash (operator only)."""
        return core.decrypt(str(round_id), body.circuit_id, body.masks_digest, body.inputs_commitment,
                            body.transcript_hash, [base64.b64decode(o) for o in body.outputs])

    @app.get("/log", tags=["log"])
    def log() -> list[dict[str, Any]]:
        """The hash-chained decryption log."""
        return core.log_entries()

    return app
