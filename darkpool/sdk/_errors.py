"""Turn the services' JSON error bodies back into typed darkpool errors."""

from __future__ import annotations

from typing import Any

import httpx

from darkpool import errors as _e

__all__ = ["raise_for_error"]


def _codes() -> dict[str, type[_e.DarkPoolError]]:
    table: dict[str, type[_e.DarkPoolError]] = {}
    for module in (_e,):
        for name in dir(module):
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, _e.DarkPoolError):
                known = table.get(cls.code)
                if known is None or issubclass(cls, known):
                    table[cls.code] = cls
    return table


_BY_CODE = _codes()


class MalformedRequest(_e.ValidationError):
    """The service rejected the request's shape before looking at its meaning."""

    code = "malformed_request"


_BY_CODE["malformed_request"] = MalformedRequest


def raise_for_error(response: httpx.Response) -> Any:
    """Return the decoded JSON of a 2xx response, else raise the error class its code names."""
    if response.is_success:
        return response.json()
    try:
        body = response.json()["error"]
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        raise _e.DarkPoolError(f"HTTP {response.status_code}: {response.text[:200]}") from None
    cls = _BY_CODE.get(code, _e.DarkPoolError)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.status_code = response.status_code  # type: ignore[attr-defined]
    if cls is _e.DarkPoolError:
        error.code = code
    raise error
