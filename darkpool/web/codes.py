"""The one table of darkpool errors: class ↔ HTTP status ↔ stable code, for servers and clients alike.

The operator's and the custodian's error handlers answer ``{"error": {"code", "message"}}`` with
the status this table gives the error's class; the SDK turns such a body back into the class its
code names. Pure: no web framework and no HTTP client is imported here, so the SDK can use it.

Each row names one class; its code is the class's own ``code`` attribute, so a class and its code
cannot drift apart. A test holds every :class:`~darkpool.errors.DarkPoolError` subclass to a row
and to a code no other class has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from darkpool import errors as e

__all__ = ["TABLE", "ErrorCode", "class_of", "error_body", "error_from_body",
           "raise_for_error", "status_of"]


class ErrorCode(NamedTuple):
    """One row of the table."""

    error: type[e.DarkPoolError]
    status: int

    @property
    def code(self) -> str:
        return self.error.code


TABLE: tuple[ErrorCode, ...] = (
    ErrorCode(e.DarkPoolError, 422),
    # malformed or out-of-range input
    ErrorCode(e.ValidationError, 422),
    ErrorCode(e.MalformedRequest, 422),
    ErrorCode(e.PayloadTooLarge, 413),
    ErrorCode(e.NotFound, 404),
    ErrorCode(e.RoundFormatError, 422),
    ErrorCode(e.ShapeError, 422),
    ErrorCode(e.CiphertextShapeError, 422),
    ErrorCode(e.MerkleDumpError, 422),
    ErrorCode(e.InvalidReveal, 422),
    ErrorCode(e.UnknownCommitment, 422),
    ErrorCode(e.InvalidProof, 422),
    ErrorCode(e.MarginError, 422),
    ErrorCode(e.StaleMark, 422),
    ErrorCode(e.BadOracleAnswer, 409),
    # signed-message checks
    ErrorCode(e.SignatureError, 401),
    ErrorCode(e.InvalidSignature, 401),
    ErrorCode(e.MalleableSignature, 401),
    ErrorCode(e.WrongChainId, 401),
    ErrorCode(e.WrongVerifyingContract, 401),
    ErrorCode(e.ExpiredMessage, 401),
    ErrorCode(e.ReplayedMessage, 409),
    ErrorCode(e.DuplicateNonce, 409),
    # out of phase or against policy
    ErrorCode(e.ProtocolError, 409),
    ErrorCode(e.PhaseError, 409),
    ErrorCode(e.TooEarly, 409),
    ErrorCode(e.TooLate, 409),
    ErrorCode(e.AlreadyRevealed, 409),
    ErrorCode(e.WrongRound, 409),
    ErrorCode(e.ForeignKey, 409),
    ErrorCode(e.InconsistentOutputs, 409),
    ErrorCode(e.PolicyViolation, 403),
    ErrorCode(e.InsufficientBond, 403),
    ErrorCode(e.MaskReuse, 403),
    ErrorCode(e.ReplayedDecryption, 403),
    ErrorCode(e.RoundIdTaken, 409),
    ErrorCode(e.TranscriptMismatch, 403),
    ErrorCode(e.UndeclaredOutput, 403),
    ErrorCode(e.MissingAttestation, 403),
    ErrorCode(e.TrivialCiphertext, 403),
    ErrorCode(e.ReplayedCiphertext, 403),
    ErrorCode(e.InvalidAttestation, 403),
    ErrorCode(e.EvaluationMismatch, 409),
    ErrorCode(e.CustodianHalted, 403),
    ErrorCode(e.RoundAborted, 409),
    ErrorCode(e.UnannouncedRound, 403),
    ErrorCode(e.Unauthorized, 401),
    ErrorCode(e.RateLimited, 429),
    ErrorCode(e.ServiceUnavailable, 503),
    ErrorCode(e.NotConfigured, 409),
    # the services' own dependencies
    ErrorCode(e.ChainError, 502),
    ErrorCode(e.TransactionReverted, 502),
    ErrorCode(e.StorageError, 503),
)

_STATUS: dict[type[e.DarkPoolError], int] = {row.error: row.status for row in TABLE}
_BY_CODE: dict[str, type[e.DarkPoolError]] = {row.code: row.error for row in TABLE}


def status_of(error: e.DarkPoolError) -> int:
    """Return the HTTP status of ``error``: its class's row, else its nearest listed ancestor's."""
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 422  # unreachable: DarkPoolError has a row


def class_of(code: str) -> type[e.DarkPoolError] | None:
    """Return the error class whose code is ``code`` (``None`` for a code this table does not know)."""
    return _BY_CODE.get(code)


def error_body(code: str, message: str) -> dict[str, Any]:
    """Return the JSON body of an error response."""
    return {"error": {"code": code, "message": message}}


def error_from_body(status: int, body: object) -> e.DarkPoolError:
    """Rebuild the error an error response carries; an unknown code gives a plain ``DarkPoolError``.

    The instance is made without calling its class's ``__init__`` (whose arguments the wire does
    not carry), with the server's message as its only argument and ``status_code`` set.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
        return _plain(status, "darkpool_error", f"HTTP {status}: {str(body)[:200]}")
    inner = body["error"]
    code, message = str(inner.get("code", "darkpool_error")), str(inner.get("message", ""))
    cls = class_of(code)
    if cls is None or cls is e.DarkPoolError:
        return _plain(status, code, message)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.status_code = status  # type: ignore[attr-defined]
    return error


def _plain(status: int, code: str, message: str) -> e.DarkPoolError:
    error = e.DarkPoolError(message)
    error.code = code
    error.status_code = status  # type: ignore[attr-defined]
    return error


class Response(Protocol):
    """What :func:`raise_for_error` reads of an HTTP response (httpx's satisfies it)."""

    @property
    def status_code(self) -> int: ...

    @property
    def is_success(self) -> bool: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def raise_for_error(response: Response) -> Any:
    """Return the decoded JSON of a 2xx response, else raise the error class its code names."""
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = response.text
    raise error_from_body(response.status_code, body)
