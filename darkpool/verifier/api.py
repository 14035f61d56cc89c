"""``create_verifier_app``: the verifier's FastAPI app (``darkpool verifier``).

``POST /rounds/{round_id}/evaluate`` (operator's bearer token: re-evaluation is costly) takes a
round's ``Enc(R)``, the operator's salt and every slot's opening, and answers the verifier's output
ciphertexts with its signed :class:`~darkpool.signing.EvaluationAttested`; ``GET /identity`` is
the address the custodian is configured to trust; ``/health``, ``/ready`` and ``/metrics`` are
its operations endpoints (:mod:`darkpool.web.observability`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from darkpool.crypto.sealing import load_or_create_key, private_dir
from darkpool.errors import ServiceUnavailable, ValidationError
from darkpool.signing import FheOrder, SigningDomain, signed_from_wire, signed_to_wire
from darkpool.verifier.core import LiquidationSlot, RoundToVerify, SlotOpening, VerifierCore
from darkpool.web.codes import raise_for_error
from darkpool.web.http import ERROR_RESPONSES, check_bearer, install_error_handlers
from darkpool.web.observability import (
    METRICS_RESPONSES,
    READY_RESPONSES,
    HealthView,
    ReadinessView,
    ServiceMetrics,
    install_observability,
    readiness,
    scrape,
)
from darkpool.web.schemas import SignedEnvelope
from darkpool.web.settings import VerifierSettings, parse_shapes

__all__ = ["EvaluateRequest", "EvaluationView", "create_verifier_app"]

HEX = r"^0x([0-9a-fA-F]{2})*$"
SHA256_HEX = r"^[0-9a-f]{64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotOpeningBody(Strict):
    """One slot: the client's signed FheOrder, the digits and salt opening its commitment, the cap."""

    slot: int = Field(ge=0, le=65535)
    order: SignedEnvelope
    masked_digits: str = Field(pattern=HEX, max_length=2 + 2 * 4096)
    digits_salt: str = Field(pattern=HEX, min_length=66, max_length=66)
    cap: int = Field(ge=0, le=2**32)


class LiquidationBody(Strict):
    """A liquidation the operator publishes with the round (public): the queue's order in its own slot."""

    slot: int = Field(ge=0, le=65535)
    order_id: str = Field(min_length=1, max_length=200)
    account: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    side: int = Field(ge=0, le=1)
    limit_ticks: int = Field(ge=-(2**62), le=2**62)
    quantity_lots: int = Field(ge=1, le=2**32)
    disclosed: str = Field(min_length=2, max_length=65536, description="the slot's mask, disclosed (JSON text)")


class EvaluateRequest(Strict):
    """A round to re-evaluate: its public terms, the custodian's Enc(R), the operator's salt, the openings."""

    instrument: str = Field(min_length=1, max_length=64)
    reference_ticks: int = Field(ge=-(2**62), le=2**62)
    band_low_ticks: int = Field(ge=-(2**62), le=2**62)
    levels: int = Field(ge=1, le=4096)
    circuit_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")
    key_id: str = Field(min_length=1, max_length=200)
    slots: int = Field(ge=1, le=4096)
    circuit_levels: int = Field(ge=1, le=4096)
    quantity_digits: int = Field(ge=1, le=64)
    digits_per_slot: int = Field(ge=1, le=4096)
    max_quantity: int = Field(ge=1, le=2**32)
    masks_digest: str = Field(pattern=SHA256_HEX)
    masks: str = Field(description="Enc(R), base64")
    salt: str = Field(pattern=HEX, min_length=66, max_length=66, description="the operator's inputs salt")
    openings: list[SlotOpeningBody] = Field(max_length=4096)
    groups: int = Field(default=1, ge=1, le=16, description="slot groups of a split round (1: unsplit)")
    operator: str = Field(default="", pattern=r"^(0x[0-9a-fA-F]{40})?$", description="the operator's address")
    liquidations: list[LiquidationBody] = Field(default_factory=list, max_length=4096)


class EvaluationView(BaseModel):
    """The verifier's outputs (base64 ciphertexts) and its signed attestation of them."""

    round_id: int
    inputs_commitment: str
    outputs: list[str]
    attestation: SignedEnvelope


class IdentityView(BaseModel):
    """The address of the key that signs this verifier's attestations."""

    address: str


async def _core(request: Request) -> VerifierCore:
    core: VerifierCore = request.app.state.core
    return core


async def _operator_only(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    settings: VerifierSettings = request.app.state.settings
    check_bearer(authorization, settings.operator_token)


Core = Annotated[VerifierCore, Depends(_core)]
OperatorOnly = Annotated[None, Depends(_operator_only)]

router = APIRouter(tags=["verifier"])


@router.post("/rounds/{round_id}/evaluate")
def evaluate(round_id: int, body: EvaluateRequest, core: Core, _: OperatorOnly) -> EvaluationView:
    """Check every slot's opening, re-evaluate the round's circuit and sign the outputs (operator only)."""
    try:
        masks = base64.b64decode(body.masks, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("masks must be base64 (Enc(R) as the custodian issued it)") from None
    openings = tuple(SlotOpening(o.slot, signed_from_wire(o.order.model_dump(), FheOrder),
                                 bytes.fromhex(o.masked_digits[2:]), bytes.fromhex(o.digits_salt[2:]), o.cap)
                     for o in body.openings)
    out = core.evaluate(RoundToVerify(
        round_id, body.instrument, body.reference_ticks, body.band_low_ticks, body.levels, body.circuit_id,
        body.key_id, body.slots, body.circuit_levels, body.quantity_digits, body.digits_per_slot,
        body.max_quantity, body.masks_digest, masks, bytes.fromhex(body.salt[2:]), openings, body.operator,
        tuple(LiquidationSlot(**x.model_dump()) for x in body.liquidations), body.groups))
    return EvaluationView(round_id=out.round_id, inputs_commitment=out.inputs_commitment,
                          outputs=[base64.b64encode(o).decode() for o in out.outputs],
                          attestation=SignedEnvelope(**signed_to_wire(out.attestation)))


@router.get("/identity")
def identity(core: Core) -> IdentityView:
    """The address that signs this verifier's attestations (the custodian's ``verifiers`` lists it)."""
    return IdentityView(address=core.address)


@router.get("/health", tags=["operations"])
def health() -> HealthView:
    """Liveness: the process answers (always 200)."""
    return HealthView(service="verifier")


@router.get("/ready", tags=["operations"], responses=READY_RESPONSES)
def ready(request: Request) -> ReadinessView:
    """Readiness: not draining after SIGTERM; 503 otherwise. Its signing key and the circuits of its
    configured shapes are loaded before the app is built, so an answering verifier has them; each
    epoch's evaluation keys are fetched from the custodian on first use."""
    return readiness(request, {})


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse, responses=METRICS_RESPONSES)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests and latencies by route template (``/rounds/{round_id}/evaluate``...)."""
    return scrape(request)


def _from_custodian(settings: VerifierSettings, path: str, **params: str) -> httpx.Response:
    """GET ``path`` of the custodian; one it cannot reach is a 503, never a 500."""
    try:
        response = httpx.get(f"{settings.custodian_url}{path}", params=params, timeout=600)
    except httpx.HTTPError as error:
        raise ServiceUnavailable(f"the custodian at {settings.custodian_url} does not answer: "
                                 f"{type(error).__name__}") from error
    if response.status_code != 200:
        raise_for_error(response)
    return response


def _key_fetcher(settings: VerifierSettings) -> Callable[[str, str], bytes]:
    def fetch(circuit_id: str, key_id: str) -> bytes:
        return _from_custodian(settings, f"/keys/{circuit_id}", key_id=key_id).content

    return fetch


def _custodian_fetcher(settings: VerifierSettings) -> Callable[[], str]:
    def fetch() -> str:
        return str(_from_custodian(settings, "/identity").json()["address"])

    return fetch


def create_verifier_app(settings: VerifierSettings) -> FastAPI:
    """Build the verifier app; its signing key is generated (0600) in ``key_dir`` on first start."""
    settings.check_startable()
    key_dir = private_dir(settings.secrets_path())
    core = VerifierCore(SigningDomain(settings.chain_id, settings.vault), load_or_create_key(key_dir / "verifier.key"),
                        Path(settings.cache_dir) if settings.cache_dir else None, settings.simulate,
                        _key_fetcher(settings), _custodian_fetcher(settings))
    for slots, levels, max_quantity, *groups in parse_shapes(settings.shapes):
        core.prepare(slots, levels, max_quantity, *groups[:1])
    app = FastAPI(title="darkpool verifier", version="1", responses=ERROR_RESPONSES,
                  description="Independent re-evaluation of FHE rounds, signed; evaluation keys only, never masks.")
    app.state.core = core
    app.state.settings = settings
    install_error_handlers(app)
    install_observability(app, ServiceMetrics("verifier"))
    app.include_router(router)
    return app
