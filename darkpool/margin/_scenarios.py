"""Per-lot scenario PnL of every instrument, built once per mark update.

The engine's model: a lot of instrument ``i`` gains ``core_pnl[i, s]`` collateral base units in
core scenario ``s`` and, when held short as an option, ``extended_pnl[i, e]`` in extended
scenario ``e`` (already scaled by the extended fraction). Both are rounded down to whole base
units, so an account's scenario PnL is an exact integer in float64 (exact while sums stay below
2**53 base units, about 9e9 quote units at six decimals). Rounding a lot's PnL moves it by less
than one base unit either way, so the floor charges one extra base unit per lot held: the
requirement is always rounded against the account, long or short.

Underlyings are stressed separately, as SPAN does per combined commodity: an account's scenario
loss is the sum over underlyings of the worst loss of its positions on that underlying, so a
long on one underlying never offsets a short on another, unless the config correlates them
(``offsets``, see :mod:`darkpool.margin._offsets`). ``core_block`` and ``extended_block``
hold the per-lot PnL with one column block per underlying (zeros outside an instrument's own
block), so one matrix product still prices every account.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from darkpool.domain import Instrument, InstrumentKind, OptionRight
from darkpool.errors import MarginError
from darkpool.margin._black_scholes import FloatArray, option_greeks, option_value
from darkpool.margin._config import MarginConfig
from darkpool.margin._offsets import Offset, offsets
from darkpool.margin._oracle import MarkOracle

__all__ = ["RiskArrays", "Scenario", "build_risk_arrays", "scenarios"]

BoolArray = npt.NDArray[np.bool_]
SECONDS_PER_YEAR = 365.0 * 86400.0
_VOL_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class Scenario:
    """One stress: relative underlying ``move`` and volatility ``vol_shift`` (-1 down, 0, +1 up)."""

    move: float
    vol_shift: int
    extended: bool


def scenarios(config: MarginConfig) -> tuple[Scenario, ...]:
    """Return the scenarios in column order: the core grid, then the extended moves."""
    core = tuple(Scenario(m, v, False) for m in config.core_moves for v in (-1, 0, 1))
    return core + tuple(Scenario(m, 1, True) for m in config.extended_moves)


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """Everything the vectorized margin needs about instruments at one instant.

    Per instrument: ``mark_price`` (quote units), ``mark_value`` (base units per lot, unrounded),
    ``tick_value`` (base units per tick and lot), ``floor`` (base units per lot held, rounded
    up), ``core_pnl`` and ``extended_pnl`` (see the module docstring), ``greeks`` per lot:
    delta, gamma, vega per vol point, theta per day, in quote units (rows: instrument), and
    ``group``, the index of its underlying in ``underlyings``. ``offsets`` are the configured
    cross-underlying pairs (empty: underlyings never offset).
    """

    now: int
    underlyings: tuple[str, ...]
    group: npt.NDArray[np.intp]
    mark_price: FloatArray
    mark_value: FloatArray
    tick_value: FloatArray
    floor: FloatArray
    core_pnl: FloatArray
    extended_pnl: FloatArray
    greeks: FloatArray
    core_block: FloatArray
    extended_block: FloatArray
    offsets: tuple[Offset, ...] = ()

    @property
    def scenario_count(self) -> int:
        return int(self.core_pnl.shape[1] + self.extended_pnl.shape[1])


def _blocks(per_lot: FloatArray, group: npt.NDArray[np.intp], groups: int) -> FloatArray:
    """Spread ``per_lot`` (instruments x scenarios) into one column block per underlying."""
    n, width = per_lot.shape
    out = np.zeros((n, groups, width))
    out[np.arange(n), group] = per_lot
    return out.reshape(n, groups * width)


def _value(
    kind: Sequence[InstrumentKind], spot: FloatArray, strike: FloatArray, years: FloatArray,
    vol: FloatArray, rate: float, is_call: BoolArray,
) -> FloatArray:
    """Value per underlying unit of every instrument; broadcasts over trailing scenario axes."""
    is_option = np.array([k is InstrumentKind.OPTION for k in kind]).reshape((-1,) + (1,) * (spot.ndim - 1))
    linear = spot * np.exp(rate * np.maximum(years, 0.0))
    safe_strike = np.where(is_option, strike, 1.0)
    return np.asarray(np.where(is_option, option_value(spot, safe_strike, years, vol, rate, is_call), linear))


def build_risk_arrays(
    instruments: Sequence[Instrument],
    oracle: MarkOracle,
    implied_vols: Mapping[str, float],
    config: MarginConfig,
    now: int,
) -> RiskArrays:
    """Price every instrument at ``now`` and stress it over the scenario grid."""
    n = len(instruments)
    spot = np.array([oracle.get(i.underlying, now).price for i in instruments], np.float64)
    years = np.array(
        [0.0 if i.expiry is None else (i.expiry - now) / SECONDS_PER_YEAR for i in instruments], np.float64
    )
    missing = [i.symbol for i in instruments if i.is_option and i.symbol not in implied_vols]
    if missing:
        raise MarginError(f"no implied volatility for options {missing}")
    vol = np.array([implied_vols.get(i.symbol, 0.0) for i in instruments], np.float64)
    strike = np.array([i.price(i.strike_ticks) if i.strike_ticks else 1.0 for i in instruments], np.float64)
    is_call = np.array([i.right is OptionRight.CALL for i in instruments], np.bool_)
    kinds = [i.kind for i in instruments]
    lot = np.array([i.contract_size for i in instruments], np.float64) * config.collateral_scale
    rate = config.risk_free_rate

    mark = _value(kinds, spot, strike, years, vol, rate, is_call)
    days = np.maximum(years * 365.0, config.vol_scaling_min_days)
    scaling = (config.vol_reference_days / days) ** config.vol_scaling_power
    vol_levels = np.stack(
        [vol * np.maximum(1.0 - config.vol_down * scaling, _VOL_FLOOR), vol, vol * (1.0 + config.vol_up * scaling)],
        axis=1,
    )
    core = np.array(config.core_moves, np.float64)
    # Axes: instrument x price move x vol level, flattened to the scenario order of scenarios().
    shape = (n, core.size, 3)
    shocked_spot = np.broadcast_to(spot[:, None, None] * (1.0 + core)[None, :, None], shape)
    shocked_vol = np.broadcast_to(vol_levels[:, None, :], shape)
    col = (slice(None), None, None)
    core_value = _value(kinds, shocked_spot, strike[col], years[col], shocked_vol, rate, is_call[col])
    core_pnl = np.floor((core_value - mark[col]).reshape(n, -1) * lot[:, None])

    extended = np.array(config.extended_moves, np.float64)
    ext_value = _value(
        kinds, spot[:, None] * (1.0 + extended)[None, :], strike[:, None], years[:, None], vol_levels[:, 2:],
        rate, is_call[:, None],
    )
    is_option = np.array([i.is_option for i in instruments], np.bool_)
    ext_pnl = np.floor((ext_value - mark[:, None]) * lot[:, None] * config.extended_fraction)
    ext_pnl = np.where(is_option[:, None], ext_pnl, 0.0)

    floor = np.ceil(config.contract_floor * spot * lot) + 1.0  # + 1: the per-lot rounding cushion
    tick_value = np.array([i.tick_size for i in instruments], np.float64) * lot
    greeks = _greeks_per_lot(is_option, spot, strike, years, vol, rate, is_call, lot / config.collateral_scale)
    underlyings = tuple(dict.fromkeys(i.underlying for i in instruments))
    group = np.array([underlyings.index(i.underlying) for i in instruments], np.intp)
    return RiskArrays(
        now=now,
        underlyings=underlyings,
        group=group,
        core_block=_blocks(core_pnl, group, len(underlyings)),
        extended_block=_blocks(ext_pnl, group, len(underlyings)),
        mark_price=mark,
        mark_value=mark * lot,
        tick_value=tick_value,
        floor=floor,
        core_pnl=np.ascontiguousarray(core_pnl),
        extended_pnl=np.ascontiguousarray(ext_pnl),
        greeks=greeks,
        offsets=offsets(config.correlations, underlyings),
    )


def _greeks_per_lot(
    is_option: BoolArray, spot: FloatArray, strike: FloatArray, years: FloatArray, vol: FloatArray,
    rate: float, is_call: BoolArray, contract: FloatArray,
) -> FloatArray:
    g = option_greeks(spot, np.where(is_option, strike, 1.0), years, vol, rate, is_call)
    growth = np.exp(rate * np.maximum(years, 0.0))
    linear_theta = np.where(years > 0, -rate * spot * growth, 0.0)
    delta = np.where(is_option, g.delta, growth)
    gamma = np.where(is_option, g.gamma, 0.0)
    vega = np.where(is_option, g.vega, 0.0) / 100.0
    theta = np.where(is_option, g.theta, linear_theta) / 365.0
    return np.asarray(np.stack([delta, gamma, vega, theta], axis=1) * contract[:, None], np.float64)


def check_exact(values: FloatArray) -> None:
    """Raise if a matrix of integer-valued floats is too large for exact float64 sums."""
    if values.size and float(np.max(np.abs(values))) > 2.0**50:
        raise MarginError("scenario PnL per lot exceeds 2**50 base units; float64 sums would not be exact")
    if not math.isfinite(float(np.sum(values))):
        raise MarginError("scenario PnL is not finite")
