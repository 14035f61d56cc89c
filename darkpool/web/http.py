"""HTTP plumbing shared by both services: error handlers, the operator's bearer check, acks.

Every :class:`~darkpool.errors.DarkPoolError` becomes ``{"error": {"code", "message"}}`` with the
status :mod:`darkpool.web.codes` gives its class; FastAPI's own request validation becomes
:class:`~darkpool.errors.MalformedRequest`.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from darkpool import errors as e
from darkpool.errors import MalformedRequest, Unauthorized
from darkpool.ledger import Appended
from darkpool.web.codes import error_body, status_of

__all__ = ["AckResponse", "ack", "check_bearer", "install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    """Map darkpool errors and request validation errors to JSON error bodies."""

    async def darkpool_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, e.DarkPoolError)
        return JSONResponse(error_body(exc.code, str(exc)), status_code=status_of(exc))

    async def malformed(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        problem = MalformedRequest(f"{where}: {first.get('msg', 'invalid request')}")
        return JSONResponse(error_body(problem.code, str(problem)), status_code=status_of(problem))

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
