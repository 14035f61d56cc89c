"""A request-size limit in front of an app: memory an unauthenticated peer can make it hold is bounded."""

from __future__ import annotations

import json
from typing import Any

from darkpool.errors import PayloadTooLarge
from darkpool.web.codes import error_body, status_of

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit", "refuse_too_large"]

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""1 MiB: the largest request either service takes (a signed FHE order) is a few kilobytes."""

Scope = dict[str, Any]


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` with 413 and the project's error format.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a body streamed
    without one is cut at the limit and refused the same way, so no request holds more than
    ``max_bytes`` of memory.
    """

    def __init__(self, app: Any, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await refuse_too_large(send, self.max_bytes)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Any:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            if refused:
                await refuse_too_large(send, self.max_bytes)


async def refuse_too_large(send: Any, max_bytes: int) -> None:
    """Answer 413 in the project's error format: the body is over ``max_bytes``."""
    problem = PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
    body = json.dumps(error_body(problem.code, str(problem))).encode()
    await send({"type": "http.response.start", "status": status_of(problem),
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    """Raised inside the app when a streamed body passes the limit."""
