"""Token buckets per key (a verified signer, a client address) with an injected clock, in bounded memory.

At most ``max_keys`` buckets are kept: the least recently used goes first. A bucket that is
forgotten starts full again, which only ever favours the key; an attacker who floods fresh keys
costs the limiter ``max_keys`` entries at most, never more.
"""

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
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket or raise :class:`RateLimited` and spend none."""
        now = self.clock()
        buckets = self._buckets
        tokens, last = buckets.pop(key, (self.burst, now))  # re-inserted below: most recently used last
        if len(buckets) >= self.max_keys:
            del buckets[next(iter(buckets))]
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate_per_s)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            wait = (cost - tokens) / self.rate_per_s if self.rate_per_s > 0 else float("inf")
            raise RateLimited(f"rate limit of {self.rate_per_s}/s (burst {self.burst}) exceeded for {key}; "
                              f"retry in {wait:.3f}s")
        self._buckets[key] = (tokens - cost, now)
