"""HTTP plumbing shared by both services: error bodies with stable codes, auth, rate limits, acks.

Every :class:`~darkpool.errors.DarkPoolError` becomes ``{"error": {"code", "message"}}`` with the
status of its class; FastAPI's own request validation becomes code ``malformed_request`` (422).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from darkpool import errors as e
from darkpool.errors import NotFound, RateLimited, ServiceUnavailable, Unauthorized
from darkpool.ledger import Appended

__all__ = ["AckResponse", "MalformedBody", "ack", "check_bearer", "install_error_handlers", "status_of"]


class MalformedBody(e.ValidationError):
    """A body that is not the JSON shape the endpoint takes (same code as FastAPI's own validation)."""

    code = "malformed_request"

_STATUS: tuple[tuple[type[e.DarkPoolError], int], ...] = (
    (NotFound, 404),
    (Unauthorized, 401),
    (RateLimited, 429),
    (ServiceUnavailable, 503),
    (e.ReplayedMessage, 409),
    (e.SignatureError, 401),
    (e.PhaseError, 409),
    (e.PolicyViolation, 403),
    (e.ProtocolError, 409),
    (e.StorageError, 503),
    (e.ChainError, 502),
    (e.DarkPoolError, 422),
)


def status_of(error: e.DarkPoolError) -> int:
    """Return the HTTP status of ``error``'s class (422 for input errors)."""
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Map darkpool errors and request validation errors to JSON error bodies."""

    async def darkpool_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, e.DarkPoolError)
        return JSONResponse(error_body(exc.code, str(exc)), status_code=status_of(exc))

    async def malformed(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse(error_body("malformed_request", f"{where}: {first.get('msg', 'invalid request')}"),
                            status_code=422)

    app.add_exception_handler(e.DarkPoolError, darkpool_error)
    app.add_exception_handler(RequestValidationError, malformed)


def check_bearer(authorization: str | None, token: str) -> None:
    """Raise :class:`Unauthorized` unless ``authorization`` is ``Bearer <token>`` (constant time)."""
    given = (authorization or "").removeprefix("Bearer ").encode()
    if not authorization or not hmac.compare_digest(given, token.encode()):
        raise Unauthorized("this endpoint needs the operator's bearer token")


class AckResponse(BaseModel):
    """An accepted message: its journal sequence number and the chain head after it."""

    seq: int
    head: str


async def ack(appended: Appended) -> AckResponse:
    """Wait until ``appended`` is durable, then acknowledge it."""
    await asyncio.wrap_future(appended.durable)
    return AckResponse(seq=appended.entry.seq, head="0x" + appended.entry.head.hex())
