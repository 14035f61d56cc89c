"""Implied volatility surfaces: a smile per expiry, interpolated across expiries.

Per expiry ``T_e`` a smile in log-moneyness ``k = ln(K / S)``: ``v(k) = atm + skew·k + curvature·k²``
(clamped to ``[MIN_VOL, MAX_VOL]``). Between two smiles' expiries the total variance ``v²·t``
is interpolated linearly in time (no calendar arbitrage from the interpolation itself); before
the first and after the last smile the nearest smile's volatility holds. The surface is sticky
in strike: an option's volatility is read at the current mark, and the scenario grid then moves
every option's volatility up and down by the term-scaled shifts of :class:`MarginConfig` — the
whole surface moves, not one number.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from darkpool.errors import MarginError

__all__ = ["MAX_VOL", "MIN_VOL", "Smile", "VolSurface"]

MIN_VOL, MAX_VOL = 0.01, 5.0


@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's smile: POSIX expiry, at-the-money volatility, skew and curvature in log-moneyness."""

    expiry: int
    atm: float
    skew: float = 0.0
    curvature: float = 0.0

    def __post_init__(self) -> None:
        for name in ("atm", "skew", "curvature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise MarginError(f"smile {name} must be a finite number, got {value!r}")
        if not MIN_VOL <= self.atm <= MAX_VOL:
            raise MarginError(f"smile atm volatility must be in [{MIN_VOL}, {MAX_VOL}], got {self.atm}")
        if isinstance(self.expiry, bool) or not isinstance(self.expiry, int) or self.expiry <= 0:
            raise MarginError(f"smile expiry must be a positive POSIX second, got {self.expiry!r}")

    def vol(self, log_moneyness: float) -> float:
        k = log_moneyness
        return min(MAX_VOL, max(MIN_VOL, self.atm + self.skew * k + self.curvature * k * k))


@dataclass(frozen=True, slots=True)
class VolSurface:
    """Smiles of one underlying, by expiry."""

    smiles: tuple[Smile, ...]

    def __post_init__(self) -> None:
        if not self.smiles:
            raise MarginError("a volatility surface needs at least one smile")
        expiries = [s.expiry for s in self.smiles]
        if expiries != sorted(set(expiries)):
            raise MarginError(f"smile expiries must be distinct and ascending, got {expiries}")

    @classmethod
    def of(cls, smiles: Sequence[Smile]) -> VolSurface:
        return cls(tuple(sorted(smiles, key=lambda s: s.expiry)))

    def vol(self, strike: float, spot: float, expiry: int, now: int) -> float:
        """The implied volatility of an option struck at ``strike`` expiring at ``expiry``, spot ``spot``."""
        if strike <= 0 or spot <= 0:
            raise MarginError(f"strike and spot must be positive, got {strike} and {spot}")
        k = math.log(strike / spot)
        smiles = self.smiles
        expiries = [s.expiry for s in smiles]
        at = bisect.bisect_left(expiries, expiry)
        if at < len(smiles) and expiries[at] == expiry:
            return smiles[at].vol(k)
        if at == 0:
            return smiles[0].vol(k)
        if at == len(smiles):
            return smiles[-1].vol(k)
        before, after = smiles[at - 1], smiles[at]
        t0, t1, t = (max(1, e - now) for e in (before.expiry, after.expiry, expiry))
        if t1 <= t0:  # both smiles already expired relative to now: the later one holds
            return after.vol(k)
        w0, w1 = before.vol(k) ** 2 * t0, after.vol(k) ** 2 * t1
        w = w0 + (w1 - w0) * (t - t0) / (t1 - t0)
        return min(MAX_VOL, max(MIN_VOL, math.sqrt(max(w, 0.0) / t)))
