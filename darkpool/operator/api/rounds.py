"""Rounds: announce, commit, seal, reveal, clear, abandon, and the public round views."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from commit_reveal import Receipt
from darkpool.errors import MalformedRequest, ValidationError
from darkpool.ledger import Appended
from darkpool.operator import rounds_cr as cr
from darkpool.operator import rounds_fhe
from darkpool.operator.api.deps import Admin, Core, FullView, client_key, parse_limited, parse_verified
from darkpool.operator.api.operations import OperatorMetrics
from darkpool.operator.api.schemas import (
    MAX_BATCH,
    AbandonRequest,
    BatchAck,
    BatchRefusal,
    ClearResponse,
    CommitmentBatch,
    OpenRoundRequest,
    ReceiptView,
    RevealRequest,
    RoundAck,
    RoundView,
)
from darkpool.operator.events import Mode
from darkpool.operator.publication import publication
from darkpool.operator.state import FheState
from darkpool.signing import Cancel, Commitment, signed_to_wire
from darkpool.web.http import AckResponse, ack, ack_response
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/rounds", tags=["rounds"])
_log = logging.getLogger("darkpool.operator")


@router.get("")
async def list_rounds(core: Core, full: FullView) -> list[RoundView]:
    """List every round with its phase and, once cleared, its result (FHE fills by slot unless audited)."""
    with core.lock:
        return [RoundView(**r.summary(full)) for r in core.rounds.values()]


@router.get("/{round_id}")
async def get_round(round_id: int, core: Core, full: FullView) -> RoundView:
    """Show one round."""
    with core.lock:
        return RoundView(**core.get_round(round_id).summary(full))


@router.post("", status_code=201)
async def open_round(body: OpenRoundRequest, core: Core, _: Admin) -> RoundAck:
    """Announce a round (operator only)."""
    appended, round_id = await run_in_threadpool(
        core.open_round, Mode(body.mode), body.instrument, body.reference_ticks, body.band_low_ticks, body.levels,
        body.slot_count, commit_s=body.commit_s, reveal_s=body.reveal_s, bond=body.bond)
    done = await ack(appended)
    return RoundAck(seq=done.seq, head=done.head, round_id=round_id)


@router.post("/{round_id}/commitments", status_code=202, response_model=AckResponse,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": SignedEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def commit(round_id: int, request: Request) -> Response:
    """Accept a signed ``Commitment`` (wire form, see SignedEnvelope) with its bond (commit phase).

    The hot path of the operator: the body is parsed once, strictly, without dependency injection.
    ``POST /rounds/{id}/commitments`` usually never reaches this route: the app serves it ahead of
    the framework (:mod:`darkpool.operator.api.fast_path`) with :func:`accept_commitment` too.
    """
    appended = await accept_commitment(request.app.state, round_id, await request.body(), client_key(request))
    return await ack_response(appended)


async def accept_commitment(state: Any, round_id: int, body: bytes, peer: str) -> Appended:
    """Check a commitment request's ``body`` from ``peer`` and journal it; raise its error otherwise.

    ``state`` is the operator app's state. The caller acknowledges once the entry is durable.
    """
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedRequest(f"body must be a JSON object, got {type(raw).__name__}")
    try:
        signed = await parse_verified(raw, Commitment, state, peer)
    except ValidationError:
        # Only a rejected body pays for the schema check that names what is malformed.
        try:
            SignedEnvelope.model_validate(raw)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            raise MalformedRequest(f"body.{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
        raise
    message = signed.message
    assert isinstance(message, Commitment)
    if message.round_id != round_id:
        raise ValidationError(f"message is for round {message.round_id}, not {round_id}")
    appended = cr.commit(state.core, round_id, signed)
    if _log.isEnabledFor(logging.DEBUG):  # the hot path: no record built unless asked for
        _log.debug("commitment accepted", extra={"round": round_id, "account": message.account,
                                                 "seq": appended.entry.seq})
    return appended


@router.post("/{round_id}/commitments/batch", status_code=202, response_model=BatchAck,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": CommitmentBatch.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def commit_batch(round_id: int, request: Request) -> BatchAck:
    """Accept up to ``MAX_BATCH`` signed commitments in one request, journaled as one entry.

    Each commitment is checked as if sent alone (signature, round, expiry, nonce, bond, collateral);
    the valid ones are journaled together and acknowledged once durable, each refused one is named
    by its index with its error and changes nothing. A malformed body refuses the whole request.
    """
    try:
        raw = json.loads(await request.body())
    except ValueError as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from None
    items = raw.get("commitments") if isinstance(raw, dict) and set(raw) == {"commitments"} else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise MalformedRequest(f"body must be {{\"commitments\": [1..{MAX_BATCH} signed commitments]}}")
    signed = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedRequest(f"body.commitments.{index}: expected a signed commitment object")
        try:
            one = parse_limited(item, Commitment, request)
        except ValidationError as exc:
            raise MalformedRequest(f"body.commitments.{index}: {exc}") from None
        if one.message.round_id != round_id:  # type: ignore[attr-defined]
            raise ValidationError(f"body.commitments.{index} is for round {one.message.round_id}, "  # type: ignore[attr-defined]
                                  f"not {round_id}")
        signed.append(one)
    appended, rejected = cr.commit_many(request.app.state.core, round_id, signed)
    refused = [BatchRefusal(index=i, code=error.code, message=str(error)) for i, error in rejected.items()]
    if appended is None:
        return BatchAck(seq=None, head=None, accepted=0, refused=refused)
    done = await ack(appended)
    return BatchAck(seq=done.seq, head=done.head, accepted=len(signed) - len(refused), refused=refused)


@router.post("/{round_id}/cancellations", status_code=202)
async def cancel(round_id: int, body: SignedEnvelope, core: Core, request: Request) -> AckResponse:
    """Withdraw the signer's order (a signed ``Cancel``) while the round still takes orders."""
    signed = parse_limited(body.model_dump(), Cancel, request)
    if signed.message.round_id != round_id:  # type: ignore[attr-defined]
        raise ValidationError(f"message is for round {signed.message.round_id}, not {round_id}")  # type: ignore[attr-defined]
    return await ack(core.cancel_order(signed))


@router.post("/{round_id}/seal")
async def seal(round_id: int, core: Core, _: Admin) -> AckResponse:
    """Seal the commitments root once the commit phase is over and post it on chain (operator only).

    Sealing a round whose root is sealed but not on chain yet only posts it (after reading the chain)."""
    return await ack(await run_in_threadpool(cr.seal, core, round_id))


@router.post("/{round_id}/reveals", status_code=202)
async def reveal(round_id: int, body: RevealRequest, core: Core, request: Request) -> AckResponse:
    """Open a commitment (reveal phase); unsigned (the opening authenticates it), so limited per peer."""
    request.app.state.peer_limiter.take(client_key(request))
    done = await ack(cr.reveal(core, round_id, body.account, body.nonce, body.side, body.limit_ticks,
                               body.quantity_lots, bytes.fromhex(body.salt[2:])))
    _log.debug("reveal accepted", extra={"round": round_id, "account": body.account, "seq": done.seq})
    return done


@router.post("/{round_id}/clear")
async def clear(round_id: int, core: Core, _: Admin, request: Request) -> ClearResponse:
    """Clear and book the round (operator only); return its result."""
    state = core.get_round(round_id)
    metrics: OperatorMetrics = request.app.state.metrics
    if isinstance(state, FheState):
        start = time.perf_counter()
        appended = await run_in_threadpool(rounds_fhe.clear_fhe_round, core, round_id)
        metrics.fhe_evaluation_seconds.observe(time.perf_counter() - start)
        counted = getattr(core.fhe_backend, "bootstraps", None)  # a backend may not know its circuit's cost
        bootstraps = (counted(state.info.slots, state.info.levels, state.info.quantity_digits, state.info.groups)
                      if counted else None)
        if bootstraps is not None:
            metrics.fhe_round_bootstraps.observe(bootstraps)
    else:
        appended = await run_in_threadpool(cr.clear_round, core, round_id)
    done = await ack(appended)
    with core.lock:
        summary = core.get_round(round_id).summary()
        lasted = core.at - state.opened_at
    metrics.round_seconds.labels(state.mode.value).observe(lasted)
    result = summary["result"] or {}
    _log.info("round cleared", extra={"round": round_id, "mode": state.mode.value, "instrument": state.round.instrument,
                                      "volume_lots": result.get("volume_lots"), "seq": done.seq})
    return ClearResponse(seq=done.seq, head=done.head, result=summary["result"])


@router.post("/{round_id}/abandon")
async def abandon(round_id: int, body: AbandonRequest, core: Core, _: Admin) -> AckResponse:
    """Call a round off before it clears: bonds go back, nothing trades (operator only)."""
    return await ack(core.abandon_round(round_id, body.reason))


@router.get("/{round_id}/publication")
async def get_publication(round_id: int, core: Core, full: FullView) -> dict[str, object]:
    """What a cleared round publishes for auditors to replay (commit-reveal: commitments, reveals,
    the operator's extra orders, the round document and the result)."""
    with core.lock:
        return publication(core.get_round(round_id), full)


@router.get("/{round_id}/receipts/{address}/{nonce}")
async def get_receipt(round_id: int, address: str, nonce: Annotated[int, Path(ge=0)], core: Core) -> ReceiptView:
    """The operator-signed receipt that a commitment is in the sealed root."""
    return _receipt_view(cr.receipt(core, round_id, address, nonce))


def _receipt_view(receipt: Receipt) -> ReceiptView:
    return ReceiptView(sealed=signed_to_wire(receipt.sealed), account=receipt.account, nonce=receipt.nonce,
                       commitment="0x" + receipt.commitment.hex(), tree_index=receipt.tree_index,
                       proof=["0x" + p.hex() for p in receipt.proof])
