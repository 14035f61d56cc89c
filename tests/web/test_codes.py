"""The one error table: every darkpool error has a row, a distinct code and a status; the SDK reads it back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

import darkpool.errors as e
from darkpool.errors import MalformedRequest
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.web.codes import TABLE, class_of, error_from_body, raise_for_error, status_of
from darkpool.web.http import install_error_handlers

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _subclasses(root: type[e.DarkPoolError]) -> Iterator[type[e.DarkPoolError]]:
    yield root
    for sub in root.__subclasses__():
        yield from _subclasses(sub)


ERRORS = sorted(set(_subclasses(e.DarkPoolError)), key=lambda cls: cls.__name__)


def _instance(cls: type[e.DarkPoolError], message: str) -> e.DarkPoolError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def test_table_when_read_lists_every_error_class_once() -> None:
    listed = [row.error for row in TABLE]
    assert len(listed) == len(set(listed))
    assert set(ERRORS) == set(listed), "every DarkPoolError subclass needs a row in darkpool.web.codes.TABLE"


def test_codes_when_compared_are_distinct_per_class() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for cls in ERRORS:
        assert class_of(cls.code) is cls


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_status_when_error_raised_is_a_client_or_gateway_status(cls: type[e.DarkPoolError]) -> None:
    status = status_of(_instance(cls, "x"))
    assert 400 <= status < 600
    assert (status >= 500) == issubclass(cls, e.ChainError | e.StorageError | e.ServiceUnavailable)


def test_status_when_class_is_unlisted_takes_nearest_ancestor() -> None:
    class Unlisted(e.PolicyViolation):
        code = "unlisted_for_test"

    assert status_of(Unlisted("x")) == 403


@pytest.mark.parametrize(("body", "code"), [({"error": {"code": "no_such_code", "message": "m"}}, "no_such_code"),
                                            ("<html>", "darkpool_error"), ({"detail": 1}, "darkpool_error")])
def test_error_from_body_when_code_unknown_or_body_foreign_gives_plain_darkpool_error(body: object, code: str) -> None:
    error = error_from_body(502, body)
    assert type(error) is e.DarkPoolError and error.code == code


def _raising_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{code}")
    def raise_(code: str) -> None:
        cls = class_of(code)
        assert cls is not None
        raise _instance(cls, f"raised {code} on purpose")

    @app.post("/typed")
    def typed(body: dict[str, int]) -> dict[str, int]:
        return body

    return app


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
async def test_error_when_raised_in_an_app_comes_back_through_sdk_as_same_class(cls: type[e.DarkPoolError]) -> None:
    client = AsyncDarkPoolClient("http://app", transport=httpx.ASGITransport(app=_raising_app()))
    with pytest.raises(cls) as caught:
        await client.run(client.ops.get(f"/raise/{cls.code}"))
    assert type(caught.value) is cls
    assert str(caught.value) == f"raised {cls.code} on purpose"
    assert caught.value.status_code == status_of(_instance(cls, ""))  # type: ignore[attr-defined]
    await client.aclose()


async def test_malformed_body_when_framework_refuses_it_comes_back_as_malformed_request() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_raising_app()), base_url="http://app") as http:
        response = await http.post("/typed", json={"a": "not an int"})
    assert response.status_code == 422 and response.json()["error"]["code"] == MalformedRequest.code
    with pytest.raises(MalformedRequest, match=r"body\.a"):
        raise_for_error(response)
