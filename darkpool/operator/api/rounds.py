"""Rounds: announce, commit, seal, reveal, clear, and the public round views."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from darkpool.errors import ValidationError
from darkpool.operator import rounds_cr as cr
from darkpool.operator.api.deps import Admin, Core, Limiter, parse_limited
from darkpool.operator.rounds import Mode
from darkpool.signing import Commitment
from darkpool.web.http import AckResponse, MalformedBody, ack
from darkpool.web.schemas import OpenRoundRequest, RevealRequest, RoundAck, SignedEnvelope

router = APIRouter(prefix="/rounds", tags=["rounds"])


@router.get("")
async def list_rounds(core: Core) -> list[dict[str, Any]]:
    """List every round with its phase and, once cleared, its result."""
    return [r.summary() for r in core.rounds.values()]


@router.get("/{round_id}")
async def get_round(round_id: int, core: Core) -> dict[str, Any]:
    """Show one round."""
    return core.get_round(round_id).summary()


@router.post("", status_code=201)
async def open_round(body: OpenRoundRequest, core: Core, _: Admin) -> RoundAck:
    """Announce a round (operator only)."""
    appended, round_id = core.open_round(Mode(body.mode), body.instrument, body.reference_ticks,
                                         body.band_low_ticks, body.levels, body.slot_count)
    done = await ack(appended)
    return RoundAck(seq=done.seq, head=done.head, round_id=round_id)


@router.post("/{round_id}/commitments", status_code=202, response_model=AckResponse,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": SignedEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def commit(round_id: int, request: Request) -> AckResponse:
    """Accept a signed ``Commitment`` (wire form, see SignedEnvelope) with its bond (commit phase).

    The hot path of the operator: the body is parsed once, strictly, without dependency injection.
    """
    try:
        raw = json.loads(await request.body())
    except ValueError as exc:
        raise MalformedBody(f"body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedBody(f"body must be a JSON object, got {type(raw).__name__}")
    state = request.app.state
    try:
        signed = parse_limited(raw, Commitment, state.limiter)
    except ValidationError:
        # Only a rejected body pays for the schema check that names what is malformed.
        try:
            SignedEnvelope.model_validate(raw)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            raise MalformedBody(f"body.{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
        raise
    if signed.message.round_id != round_id:  # type: ignore[attr-defined]
        raise ValidationError(f"message is for round {signed.message.round_id}, not {round_id}")  # type: ignore[attr-defined]
    return await ack(cr.commit(state.core, signed))


@router.post("/{round_id}/seal")
async def seal(round_id: int, core: Core, _: Admin) -> AckResponse:
    """Close the commit phase and post the commitments root on chain (operator only)."""
    return await ack(await run_in_threadpool(cr.seal, core, round_id))


@router.post("/{round_id}/reveals", status_code=202)
async def reveal(round_id: int, body: RevealRequest, core: Core, limiter: Limiter) -> AckResponse:
    """Open a commitment (reveal phase)."""
    limiter.take(body.account.lower())
    return await ack(cr.reveal(core, round_id, body.account, body.nonce, body.side, body.limit_ticks,
                               body.quantity_lots, bytes.fromhex(body.salt[2:])))


@router.post("/{round_id}/clear")
async def clear(round_id: int, core: Core, _: Admin) -> dict[str, Any]:
    """Cap, clear and book the round (operator only); return its result."""
    state = core.get_round(round_id)
    if state.mode is Mode.FHE:
        from darkpool.operator import rounds_fhe as _fhe_rounds

        appended, payload = await run_in_threadpool(_fhe_rounds.clear_fhe_round, core, round_id)
    else:
        appended, payload = await run_in_threadpool(cr.clear_round, core, round_id)
    done = await ack(appended)
    return {"seq": done.seq, "head": done.head, "result": payload["result"]}
