"""Per-account token buckets with an injected clock (decision code: no wall time read here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from darkpool.errors import RateLimited

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class RateLimiter:
    """Allow each key ``rate_per_s`` requests a second on average and ``burst`` at once."""

    rate_per_s: float
    burst: float
    clock: Callable[[], float]
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket or raise :class:`RateLimited` and spend none."""
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate_per_s)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            wait = (cost - tokens) / self.rate_per_s if self.rate_per_s > 0 else float("inf")
            raise RateLimited(f"rate limit of {self.rate_per_s}/s (burst {self.burst}) exceeded for {key}; "
                              f"retry in {wait:.3f}s")
        self._buckets[key] = (tokens - cost, now)
