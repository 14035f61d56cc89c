"""HTTP plumbing shared by both services: error handlers, the operator's bearer check, acks.

Every :class:`~darkpool.errors.DarkPoolError` becomes ``{"error": {"code", "message"}}`` with the
status :mod:`darkpool.web.codes` gives its class; FastAPI's own request validation becomes
:class:`~darkpool.errors.MalformedRequest`.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from darkpool import errors as e
from darkpool.errors import MalformedRequest, Unauthorized
from darkpool.ledger import Appended
from darkpool.web.codes import TABLE, error_body, status_of

__all__ = ["ERROR_RESPONSES", "AckResponse", "ErrorResponse", "ack", "check_bearer", "install_error_handlers"]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error either service returns: a stable code (see :mod:`darkpool.web.codes`) and a message."""

    error: ErrorDetail


def _error_responses() -> dict[int | str, dict[str, Any]]:
    by_status: dict[int, list[str]] = {}
    for row in TABLE:
        by_status.setdefault(row.status, []).append(row.code)
    return {status: {"model": ErrorResponse, "description": "codes: " + ", ".join(sorted(set(codes)))}
            for status, codes in sorted(by_status.items())}


ERROR_RESPONSES = _error_responses()
"""Every status the table can answer, documented on every route (OpenAPI lists them all)."""


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

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        # The framework's own refusals (a body that does not parse, an unknown path or method).
        assert isinstance(exc, StarletteHTTPException)
        code = {400: MalformedRequest.code, 422: MalformedRequest.code, 404: e.NotFound.code}.get(
            exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(e.DarkPoolError, darkpool_error)
    app.add_exception_handler(RequestValidationError, malformed)
    app.add_exception_handler(StarletteHTTPException, http_error)


def check_bearer(authorization: str | None, token: str) -> None:
    """Raise :class:`Unauthorized` unless ``authorization`` is ``Bearer <token>`` (constant time).

    An empty configured token admits nobody (``Bearer `` must not match it)."""
    given = (authorization or "").removeprefix("Bearer ").encode()
    if not token or not authorization or not hmac.compare_digest(given, token.encode()):
        raise Unauthorized("this endpoint needs the operator's bearer token")


class AckResponse(BaseModel):
    """An accepted message: its journal sequence number and the chain head after it."""

    seq: int
    head: str


async def ack(appended: Appended) -> AckResponse:
    """Wait until ``appended`` is durable, then acknowledge it."""
    await asyncio.wrap_future(appended.durable)
    return AckResponse(seq=appended.entry.seq, head="0x" + appended.entry.head.hex())
