"""The order endpoint without the framework's routing: ``POST /rounds/{round_id}/commitments``.

Under load, FastAPI's router, its exception and exit-stack middlewares and its endpoint plumbing
cost more CPU per signed commitment than checking and journaling it. This ASGI middleware sits
inside the body limit and the metrics middleware (so both still apply) and hands that one
route's requests straight to the route's own endpoint function; a darkpool error becomes the
same JSON body and status as the app's exception handler gives. Every other request, and any
path the fast path does not recognise exactly (a round id with a sign or leading zeros), goes
through FastAPI as before, so the two ways of reaching the endpoint cannot disagree.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from darkpool.errors import DarkPoolError
from darkpool.operator.api.rounds import commit
from darkpool.web.codes import error_body, status_of

__all__ = ["CommitFastPath"]

ROUTE = "/rounds/{round_id}/commitments"
_PATH = re.compile(r"/rounds/([1-9][0-9]{0,17})/commitments")
_LABEL = SimpleNamespace(path=ROUTE)


class CommitFastPath:
    """ASGI middleware serving ``POST /rounds/{round_id}/commitments`` with the route's own endpoint."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _PATH.fullmatch(scope["path"])
            if found is not None:
                scope["route"] = _LABEL  # what the metrics label the request with: the route's template
                try:
                    response = await commit(int(found.group(1)), Request(scope, receive))
                except DarkPoolError as exc:
                    response = JSONResponse(error_body(exc.code, str(exc)), status_code=status_of(exc))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
