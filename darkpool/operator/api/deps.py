"""Dependencies of the operator routers: the core, the admin check and the rate limiter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from darkpool.errors import ValidationError
from darkpool.operator.core import OperatorCore
from darkpool.signing import Signed, TypedMessage, signed_from_wire
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


def parse_limited(raw: dict[str, Any], expected: type[TypedMessage], limiter: RateLimiter) -> Signed:
    """Rate-limit the claimed account, then parse the wire message strictly."""
    message = raw.get("message")
    claimed = message.get("account") if isinstance(message, dict) else None
    if not isinstance(claimed, str):
        raise ValidationError("signed message must name its account")
    limiter.take(claimed.lower())
    return signed_from_wire(raw, expected)
