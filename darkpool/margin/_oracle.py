"""The mark oracle: the latest timestamped price per underlying, refused once stale."""

from __future__ import annotations

import math
from dataclasses import dataclass

from darkpool.errors import MarginError, StaleMark

__all__ = ["Mark", "MarkOracle"]


@dataclass(frozen=True, slots=True)
class Mark:
    """A price of an underlying in quote units, observed at POSIX second ``at``."""

    underlying: str
    price: float
    at: int


class MarkOracle:
    """Hold the latest mark per underlying; reading one older than ``max_age_s`` raises :class:`StaleMark`."""

    def __init__(self, max_age_s: int) -> None:
        if isinstance(max_age_s, bool) or not isinstance(max_age_s, int) or max_age_s < 0:
            raise MarginError(f"mark max age must be a non-negative integer of seconds, got {max_age_s!r}")
        self._max_age_s = max_age_s
        self._marks: dict[str, Mark] = {}
        self.version = 0

    def set(self, underlying: str, price: float, at: int) -> Mark:
        """Record ``price`` for ``underlying`` at ``at``; a mark older than the current one is refused."""
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price):
            raise MarginError(f"mark of {underlying!r} must be a finite number, got {price!r}")
        if price <= 0:
            raise MarginError(f"mark of {underlying!r} must be positive, got {price}")
        if isinstance(at, bool) or not isinstance(at, int):
            raise MarginError(f"mark time must be integer POSIX seconds, got {at!r}")
        previous = self._marks.get(underlying)
        if previous is not None and at < previous.at:
            raise MarginError(f"mark of {underlying!r} at {at} is older than the current one at {previous.at}")
        mark = Mark(underlying, float(price), at)
        self._marks[underlying] = mark
        self.version += 1
        return mark

    def get(self, underlying: str, now: int) -> Mark:
        """Return the mark of ``underlying`` usable at ``now``, or raise."""
        mark = self._marks.get(underlying)
        if mark is None:
            raise MarginError(f"no mark for underlying {underlying!r}")
        if now - mark.at > self._max_age_s:
            raise StaleMark(
                f"mark of {underlying!r} is {now - mark.at}s old at {now}; at most {self._max_age_s}s allowed"
            )
        if mark.at > now:
            raise MarginError(f"mark of {underlying!r} is from {mark.at}, after now ({now})")
        return mark
