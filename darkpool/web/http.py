"""HTTP plumbing shared by both services: error handlers, the operator's bearer check, acks.

Every :class:`~darkpool.errors.DarkPoolError` becomes ``{"error": {"code", "message"}}`` with the
status :mod:`darkpool.web.codes` gives its class; FastAPI's own request validation becomes
:class:`~darkpool.errors.MalformedRequest`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import hmac
import itertools
import re
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from darkpool import errors as e
from darkpool.errors import MalformedRequest, Unauthorized
from darkpool.ledger import Appended, Journal
from darkpool.web.codes import TABLE, error_body, status_of

__all__ = ["ERROR_RESPONSES", "AckResponse", "DurableWaiter", "ErrorResponse", "ack", "ack_response", "check_bearer",
           "install_error_handlers"]


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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # The framework's own refusals (a body that does not parse, an unknown path or method). A body
        # that does not parse is malformed like any other: 422 as the table says, not Starlette's 400,
        # which no route documents.
        assert isinstance(exc, StarletteHTTPException)
        known = {400: MalformedRequest, 422: MalformedRequest, 404: e.NotFound}.get(exc.status_code)
        if known is None:
            headers = exc.headers
            if exc.status_code == 405:
                headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
            return JSONResponse(error_body(f"http_{exc.status_code}", str(exc.detail)), status_code=exc.status_code,
                                headers=headers)
        problem = known(str(exc.detail))
        return JSONResponse(error_body(problem.code, str(problem)), status_code=status_of(problem), headers=exc.headers)

    async def upstream_error(_: Request, exc: Exception) -> JSONResponse:
        # A party this service calls (custodian, verifier) does not answer: unavailable, never a 500.
        problem = e.ServiceUnavailable(f"a service this one depends on does not answer: {type(exc).__name__}")
        return JSONResponse(error_body(problem.code, str(problem)), status_code=status_of(problem))

    app.add_exception_handler(e.DarkPoolError, darkpool_error)
    app.add_exception_handler(httpx.HTTPError, upstream_error)
    app.add_exception_handler(RequestValidationError, malformed)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the schema documents at the request's path (Starlette names only one route's)."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
                  {m.upper() for m in operations})
                 for path, operations in app.openapi().get("paths", {}).items()]
        app.state.allowed_methods = table
    path = request.url.path
    return sorted({m for pattern, methods in table if pattern.match(path) for m in methods})


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


async def ack_response(appended: Appended, status_code: int = 202) -> Response:
    """:func:`ack` as a ready response (an :class:`AckResponse` body), for the hot paths: FastAPI then
    skips validating and serializing a model it would only copy."""
    await asyncio.wrap_future(appended.durable)
    body = b'{"seq":%d,"head":"0x%s"}' % (appended.entry.seq, appended.entry.head.hex().encode())
    return Response(body, status_code=status_code, media_type="application/json")


class DurableWaiter:
    """Await journal entries' durability on one event loop, woken once per group commit.

    :func:`ack` wraps each entry's future for the loop: one callback and one cross-thread wake-up
    per entry, run by the journal's writer thread under the GIL the loop needs. On the hot order
    path this waiter keeps the entries waiting in a heap by sequence number instead; the journal
    calls it once per group commit (:meth:`~darkpool.ledger.Journal.on_durable`) and it wakes the
    loop once to release every entry now durable (or failed: its error is raised to the waiter).
    """

    def __init__(self, journal: Journal) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[int, int, asyncio.Future[None], Appended]] = []
        self._arrivals = itertools.count()  # breaks ties: the same entry may be awaited twice
        journal.on_durable(self._group_done)

    async def wait(self, appended: Appended) -> None:
        """Return once ``appended`` is durable; raise its write's error if the write failed."""
        durable = appended.durable
        if durable.done():
            durable.result()
            return
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:  # another loop (a test's): the per-entry way
            await asyncio.wrap_future(durable)
            return
        waiting: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (appended.entry.seq, next(self._arrivals), waiting, appended))
        if durable.done():  # its group finished before this loop was known: nobody will wake it
            self._release()
        await waiting

    def _group_done(self) -> None:
        """On the writer thread: wake the loop once."""
        loop = self._loop
        if loop is not None and self._waiting:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        """On the loop: release every waiting entry that is durable (entries become so in order)."""
        waiting = self._waiting
        while waiting and waiting[0][3].durable.done():
            _, _, future, appended = heapq.heappop(waiting)
            if future.done():  # its request was cancelled
                continue
            failed = appended.durable.exception()
            if failed is None:
                future.set_result(None)
            else:
                future.set_exception(failed)
