"""The frozen configuration of the margin engine, which rejects unknown keys."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from darkpool.errors import MarginError
from darkpool.margin._offsets import Correlation, check_correlations

__all__ = ["MarginConfig"]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MarginError(f"margin config {name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise MarginError(f"margin config {name} must be {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class MarginConfig:
    """Scenario grid, floors and policy of the portfolio margin engine (Deribit/SPAN style).

    The core grid moves the underlying over ``±price_range`` in ``price_points`` steps, each
    with volatility down, unchanged and up. Volatility shocks are relative (``vol_up=0.45``
    means x1.45) and grow for short expiries as ``(vol_reference_days / days) ** vol_scaling_power``.
    ``extended_moves`` are large underlying moves with volatility up, applied to short option legs
    alone and counted at ``extended_fraction`` (Deribit's extended table, without its dampener).
    ``contract_floor`` is a floor per lot held, as a fraction of the underlying notional of one
    lot. ``collateral_scale`` is collateral base units per quote unit (10**6 for a 6-decimal
    stablecoin). ``fee_rate`` is the default fee rate assumed by caps. Defaults give 9 x 3 + 8 = 35 scenarios.
    ``correlations`` (off by default) lets correlated underlyings offset (:mod:`darkpool.margin._offsets`).
    """

    price_range: float = 0.16
    price_points: int = 9
    vol_up: float = 0.45
    vol_down: float = 0.30
    vol_reference_days: float = 30.0
    vol_scaling_power: float = 0.30
    vol_scaling_min_days: float = 1.0
    extended_moves: tuple[float, ...] = (-0.66, -0.33, 0.50, 1.00, 2.00, 3.00, 4.00, 5.00)
    extended_fraction: float = 0.02
    contract_floor: float = 0.005
    maintenance_fraction: float = 0.75
    risk_free_rate: float = 0.0
    collateral_scale: int = 10**6
    mark_max_age_s: int = 60
    fee_rate: float = 0.0
    liquidation_step: float = 0.25
    liquidation_slippage: float = 0.02
    funding_interval_s: int = 8 * 3600
    """Perpetual funding accrues once per interval (see :mod:`darkpool.margin._funding`)."""
    funding_rate_cap: float = 0.0075
    """The funding rate per interval is the premium clamped to ``±funding_rate_cap``."""
    correlations: tuple[Correlation, ...] = ()
    """``(underlying, underlying, rho)`` triples: cross-underlying offsets (none: underlyings never offset)."""

    def __post_init__(self) -> None:
        _positive("price_range", self.price_range)
        if self.price_range >= 1:
            raise MarginError(f"margin config price_range must be below 1, got {self.price_range}")
        points = self.price_points
        if isinstance(points, bool) or not isinstance(points, int) or points < 3 or points % 2 == 0:
            raise MarginError(f"margin config price_points must be an odd integer >= 3, got {points!r}")
        for name in ("vol_up", "vol_down", "vol_scaling_power", "contract_floor", "fee_rate"):
            _positive(name, getattr(self, name), allow_zero=True)
        for name in ("vol_reference_days", "vol_scaling_min_days"):
            _positive(name, getattr(self, name))
        if not isinstance(self.extended_moves, tuple):
            raise MarginError(f"margin config extended_moves must be a tuple, got {self.extended_moves!r}")
        for move in self.extended_moves:
            if isinstance(move, bool) or not isinstance(move, (int, float)) or not -1 < move < math.inf:
                raise MarginError(f"margin config extended_moves must be finite and above -1, got {move!r}")
        for name in ("extended_fraction", "maintenance_fraction", "liquidation_step"):
            value = _positive(name, getattr(self, name))
            if value > 1:
                raise MarginError(f"margin config {name} must be at most 1, got {value}")
        slippage = _positive("liquidation_slippage", self.liquidation_slippage, allow_zero=True)
        if slippage >= 1:
            raise MarginError(f"margin config liquidation_slippage must be below 1, got {slippage}")
        if not isinstance(self.risk_free_rate, (int, float)) or not math.isfinite(self.risk_free_rate):
            raise MarginError(f"margin config risk_free_rate must be finite, got {self.risk_free_rate!r}")
        cap = _positive("funding_rate_cap", self.funding_rate_cap, allow_zero=True)
        if cap >= 1:
            raise MarginError(f"margin config funding_rate_cap must be below 1, got {cap}")
        for name in ("collateral_scale", "mark_max_age_s", "funding_interval_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MarginError(f"margin config {name} must be a positive integer, got {value!r}")
        object.__setattr__(self, "correlations", check_correlations(self.correlations))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> MarginConfig:
        """Build a config from ``values``, rejecting keys it does not know."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MarginError(f"unknown margin config keys {unknown}; expected some of {sorted(known)}")
        given = dict(values)
        if "extended_moves" in given and isinstance(given["extended_moves"], list):
            given["extended_moves"] = tuple(given["extended_moves"])
        return cls(**given)

    @property
    def core_moves(self) -> tuple[float, ...]:
        """Return the symmetric underlying moves of the core grid, from -range to +range."""
        half = self.price_points // 2
        return tuple(self.price_range * i / half for i in range(-half, half + 1))

    @property
    def scenario_count(self) -> int:
        return 3 * self.price_points + len(self.extended_moves)
