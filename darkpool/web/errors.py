"""Errors only the services raise, each a :class:`~darkpool.errors.DarkPoolError` with a stable code.

::

    DarkPoolError
    ├── ValidationError
    │   └── NotFound              no such round, batch, withdrawal or slot
    └── ProtocolError
        ├── Unauthorized          an operator-only endpoint without the operator's token
        ├── RateLimited           the account spent its token bucket
        └── ServiceUnavailable    a configured dependency (chain, custodian) is absent or failing
"""

from __future__ import annotations

from darkpool.errors import ProtocolError, ValidationError

__all__ = ["NotFound", "RateLimited", "ServiceUnavailable", "Unauthorized"]


class NotFound(ValidationError):
    """The named round, batch, withdrawal or slot does not exist."""

    code = "not_found"


class Unauthorized(ProtocolError):
    """An operator-only endpoint was called without the operator's bearer token."""

    code = "unauthorized"


class RateLimited(ProtocolError):
    """The account sent more requests than its token bucket allows."""

    code = "rate_limited"


class ServiceUnavailable(ProtocolError):
    """A dependency the request needs (chain, custodian) is not configured or failed."""

    code = "service_unavailable"
