"""The order endpoint ahead of the framework: ``POST /rounds/{round_id}/commitments``.

Under load, FastAPI's telemetry check, its middleware stack (server errors, exception telemetry,
body limits, metrics), its router and its request and response objects cost more CPU per signed
commitment than checking and journaling it. :class:`OperatorApp` is the operator's FastAPI app
with that one route answered first, in its own ``__call__``, by the route's own function
(:func:`~darkpool.operator.api.rounds.accept_commitment`); what the skipped layers do for it is
done here the same way: the request-size limit (413 before a byte is read, or once a streamed
body passes it), the request counter and latency under the route's template, and a darkpool
error as the same JSON body and status the app's exception handler gives. An unexpected
exception propagates to the server, which answers 500 as the framework would. Every other
request, and any path the fast path does not recognise exactly (a round id with a sign or
leading zeros), goes through FastAPI, so the two ways of reaching the endpoint cannot disagree.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi import FastAPI

from darkpool.errors import DarkPoolError
from darkpool.operator.api.deps import peer_key
from darkpool.operator.api.rounds import accept_commitment
from darkpool.web.codes import error_body, status_of
from darkpool.web.limits import DEFAULT_MAX_BODY_BYTES, refuse_too_large

__all__ = ["ROUTE", "OperatorApp"]

ROUTE = "/rounds/{round_id}/commitments"
_PATH = re.compile(r"/rounds/([1-9][0-9]{0,17})/commitments")
_JSON = (b"content-type", b"application/json")
_GONE = b"\0gone"
"""What :meth:`OperatorApp._body` returns when the client disconnected (compared by identity)."""


class OperatorApp(FastAPI):
    """The operator's FastAPI app, answering ``POST /rounds/{round_id}/commitments`` ahead of the framework."""

    max_body_bytes = DEFAULT_MAX_BODY_BYTES
    _children: tuple[dict[int, Any], Any] | None = None
    """The route's request counters by status and its latency histogram, once looked up."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _PATH.fullmatch(scope["path"])
            if found is not None:
                await self._commit(int(found.group(1)), scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _commit(self, round_id: int, scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        scope["app"] = self
        status = 500
        try:
            body = await self._body(scope, receive)
            if body is _GONE:  # the client left before its body arrived: no one to answer
                status = 499
                return
            if body is None:  # too large: refused
                status = 413
                await refuse_too_large(send, self.max_body_bytes)
                return
            try:
                appended = await accept_commitment(self.state, round_id, body, peer_key(scope))
                await self.state.durable.wait(appended)  # acknowledged only once durable
            except DarkPoolError as exc:
                status = status_of(exc)
                answer = json.dumps(error_body(exc.code, str(exc)), ensure_ascii=False,
                                    separators=(",", ":")).encode()
            else:
                status = 202
                entry = appended.entry
                answer = b'{"seq":%d,"head":"0x%s"}' % (entry.seq, entry.head.hex().encode())
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-length", b"%d" % len(answer)), _JSON]})
            await send({"type": "http.response.body", "body": answer})
        finally:
            self._count(status, time.perf_counter() - start)

    def _count(self, status: int, seconds: float) -> None:
        """Count and time a request as the metrics middleware does, under the route's template."""
        metrics = self.state.metrics
        if self._children is None:  # looked up once: a label lookup takes a lock and builds a key
            self._children = ({}, metrics.latency.labels(ROUTE, "POST"))
        by_status, latency = self._children
        counter = by_status.get(status)
        if counter is None:
            counter = by_status[status] = metrics.requests.labels(ROUTE, "POST", str(status))
        counter.inc()
        latency.observe(seconds)

    async def _body(self, scope: Any, receive: Any) -> bytes | None:
        """The request body, or ``None`` once it is known to pass the size limit."""
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                return None
        chunks = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _GONE
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
