"""Dependencies of the operator routers: the core, the admin check and the rate limiter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from darkpool.operator.core import OperatorCore
from darkpool.signing import Signed, TypedMessage, recover_digest, signed_from_wire
from darkpool.web.http import check_bearer
from darkpool.web.ratelimit import RateLimiter
from darkpool.web.settings import OperatorSettings

__all__ = ["Admin", "Core", "Limiter", "Settings", "parse_limited"]


async def get_core(request: Request) -> OperatorCore:
    core: OperatorCore = request.app.state.core
    return core


async def get_settings(request: Request) -> OperatorSettings:
    settings: OperatorSettings = request.app.state.settings
    return settings


async def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


async def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    check_bearer(authorization, request.app.state.settings.admin_token)


Core = Annotated[OperatorCore, Depends(get_core)]
Settings = Annotated[OperatorSettings, Depends(get_settings)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
Admin = Annotated[None, Depends(require_admin)]


def client_key(request: Request) -> str:
    """The rate-limit key of a request's network peer."""
    return "peer:" + (request.client.host if request.client is not None else "unknown")


def parse_limited(raw: dict[str, Any], expected: type[TypedMessage], request: Request) -> Signed:
    """Rate-limit the peer, parse the wire message strictly, then rate-limit its *verified* signer.

    Keying on the claimed account would let anyone spend a victim's bucket with forged requests;
    the signer recovered here is the one the signature proves (a forged signature recovers some
    other address, whose bucket the forger spends, and the core then refuses the request).
    """
    state = request.app.state
    state.peer_limiter.take(client_key(request))
    signed = signed_from_wire(raw, expected)
    try:
        signer = recover_digest(signed.message.digest(state.core.config.domain), signed.signature)
    except ValueError:
        signer = "unrecoverable"
    state.limiter.take(signer)
    return signed
