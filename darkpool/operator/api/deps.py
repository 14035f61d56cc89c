"""Dependencies of the operator routers: the core, the admin check and the rate limiter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from darkpool.domain import Account, account
from darkpool.errors import Unauthorized
from darkpool.operator.api.recovery import UNRECOVERABLE, SignerRecovery
from darkpool.operator.core import OperatorCore
from darkpool.signing import AccountRead, Signed, TypedMessage, recover_digest, signed_from_wire
from darkpool.web.http import check_bearer
from darkpool.web.ratelimit import RateLimiter
from darkpool.web.settings import OperatorSettings

__all__ = ["READ_HEADER", "Admin", "Core", "FullView", "Limiter", "Reader", "Settings", "client_key",
           "parse_limited", "parse_limited_for", "parse_verified", "peer_key"]


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


async def full_view(request: Request, authorization: Annotated[str | None, Header()] = None) -> bool:
    """Whether the request sees private audit data: it carries the admin's or the auditors' token.

    Without a token the audit surface is public and shows FHE rounds only as aggregates, private
    journal entries only as digests, and batches only as roots (see the README's "Who reads what").
    """
    if authorization is None:
        return False
    settings = request.app.state.settings
    try:
        check_bearer(authorization, settings.admin_token)
    except Unauthorized:
        check_bearer(authorization, settings.auditor_token)
    return True


Core = Annotated[OperatorCore, Depends(get_core)]
FullView = Annotated[bool, Depends(full_view)]
Settings = Annotated[OperatorSettings, Depends(get_settings)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
Admin = Annotated[None, Depends(require_admin)]


READ_HEADER = "X-Darkpool-Read"
"""The header carrying an account's signed :class:`~darkpool.signing.AccountRead` (its wire JSON)."""
MAX_READ_LIFETIME_S = 600
MAX_CLOCK_SKEW_S = 300
"""How far a client's clock may lag the operator's: a read that expired this recently still counts."""


async def require_reader(request: Request, address: str) -> Account:
    """The account of the path, if the request carries its fresh signed read (or the admin token).

    Post-trade data is private: without this any party could read every institution's history.
    """
    who = account(address)
    settings = request.app.state.settings
    authorization = request.headers.get("authorization")
    if authorization is not None:
        check_bearer(authorization, settings.admin_token)
        return who
    raw = request.headers.get(READ_HEADER)
    if raw is None:
        raise Unauthorized(f"reads of {who} need its signed AccountRead in the {READ_HEADER} header")
    try:
        signed = signed_from_wire(json.loads(raw), AccountRead)
    except ValueError as exc:
        raise Unauthorized(f"{READ_HEADER} is not a signed AccountRead: {exc}") from None
    core = request.app.state.core
    domain, now = core.config.domain, int(core.clock())
    message = signed.message
    assert isinstance(message, AccountRead)
    if signed.chain_id != domain.chain_id or account(signed.verifying_contract) != domain.verifying_contract:
        raise Unauthorized("the AccountRead is for another operator")
    if not now - MAX_CLOCK_SKEW_S < message.expiry <= now + MAX_READ_LIFETIME_S:
        raise Unauthorized(f"an AccountRead must expire within {MAX_READ_LIFETIME_S} s of now ({now}), "
                           f"got {message.expiry}")
    try:
        signer = recover_digest(message.digest(domain), signed.signature)
    except ValueError:
        signer = ""
    if signer != who or account(message.account) != who:
        raise Unauthorized(f"the AccountRead is not {who}'s own signature")
    return who


Reader = Annotated[Account, Depends(require_reader)]


def client_key(request: Request) -> str:
    """The rate-limit key of a request's network peer."""
    return peer_key(request.scope)


def peer_key(scope: Mapping[str, Any]) -> str:
    """The rate-limit key of the network peer of an ASGI ``scope``."""
    client = scope.get("client")
    return "peer:" + (client[0] if client else "unknown")


def parse_limited(raw: dict[str, Any], expected: type[TypedMessage], request: Request) -> Signed:
    """Rate-limit the peer, parse the wire message strictly, then rate-limit its *verified* signer.

    Keying on the claimed account would let anyone spend a victim's bucket with forged requests;
    the signer recovered here is the one the signature proves (a forged signature recovers some
    other address, whose bucket the forger spends, and the core then refuses the request).
    """
    return parse_limited_for(raw, expected, request.app.state, client_key(request))


def parse_limited_for(raw: dict[str, Any], expected: type[TypedMessage], state: Any, peer: str) -> Signed:
    """:func:`parse_limited` for the app whose state is ``state``, from the peer keyed ``peer``."""
    state.peer_limiter.take(peer)
    signed = signed_from_wire(raw, expected)
    digest = signed.message.digest(state.core.config.domain)
    try:
        signer = recover_digest(digest, signed.signature)
    except ValueError:
        signer = UNRECOVERABLE
    _limit_signer(state, digest, signed, signer)
    return signed


async def parse_verified(raw: dict[str, Any], expected: type[TypedMessage], state: Any, peer: str) -> Signed:
    """:func:`parse_limited_for` recovering the signer with the app's :class:`SignerRecovery` (off this thread)."""
    state.peer_limiter.take(peer)
    signed = signed_from_wire(raw, expected)
    digest = signed.message.digest(state.core.config.domain)
    recovery: SignerRecovery = state.recovery
    _limit_signer(state, digest, signed, await recovery.signer(digest, signed.signature))
    return signed


def _limit_signer(state: Any, digest: bytes, signed: Signed, signer: str) -> None:
    if signer != UNRECOVERABLE and state.core.recoverer is not None:  # the round's checks may reuse it
        state.core.recoverer.remember(digest, signed.signature, bytes.fromhex(signer[2:]))
    state.limiter.take(signer)
