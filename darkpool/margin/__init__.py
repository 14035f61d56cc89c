"""Portfolio margin for darkpool (DESIGN.md §5): pricing, Greeks, scenario risk, caps, liquidation.

The engine's model, in one place:

- Marks come from a :class:`MarkOracle` per underlying and are refused once older than
  ``mark_max_age_s`` (:class:`~darkpool.errors.StaleMark`). Perpetuals and futures are linear in
  the underlying (futures at the forward ``S·e^{rT}``); European options are priced by
  Black-Scholes with an implied volatility per instrument.
- Initial margin is, summed over underlyings, the worst loss over the scenario grid of
  :class:`MarginConfig` (35 scenarios by default: +-16% in 9 points x vol down/same/up, plus
  large moves on short options at a fraction), plus a floor per lot held; maintenance is a
  fraction of it. Requirements round up, equity rounds down: against the account. With
  ``MarginConfig.correlations`` (off by default; :func:`parse_correlations` reads
  ``"BTC:ETH=0.8"``) correlated underlyings offset: a hedged pair is credited a share of what it
  would save moving together, never below its larger leg (:mod:`darkpool.margin._offsets`).
- :meth:`MarginEngine.cap` gives the largest fill that keeps free collateral non-negative,
  exact for this model (cap passes, cap + 1 fails); :meth:`MarginEngine.caps` does a batch.
- The engine is the one book of cash and positions: :meth:`MarginEngine.apply_fills` takes
  :class:`~darkpool.domain.Fill` and keeps exact average entry, realized PnL and fees (at
  ``config.fee_rate``, the rate caps assume); :meth:`MarginEngine.cash` is collateral plus
  realized PnL minus fees; :meth:`MarginEngine.charge` debits forfeited bonds;
  :meth:`MarginEngine.liquidation_orders` emits reduce-only orders for accounts under
  maintenance until they are healthy; :meth:`MarginEngine.settle_expired` cash-settles expiries
  at the underlying's mark at expiry (:func:`settlement_ticks`: futures at it, options at intrinsic).

Example::

    engine = MarginEngine(instruments, MarginConfig(), implied_vols={"ETH-C": 0.6})
    engine.set_mark("ETH", 3000.0, at=now)
    engine.deposit(alice, 1_000 * 10**6)
    lots = engine.cap(alice, "ETH-PERP", Side.BUY, limit_ticks=300_000, now=now, max_lots=255)
    engine.apply_fills([Fill(1, OrderId("a:1"), alice, "ETH-PERP", Side.BUY, lots, Ticks(300_000))], now)
    engine.account_margin(alice, now).free_collateral >= 0
"""

from darkpool.margin._black_scholes import OptionGreeks, option_greeks, option_value
from darkpool.margin._config import MarginConfig
from darkpool.margin._deficits import share_deficits
from darkpool.margin._engine import UNBOUNDED_LOTS, MarginEngine
from darkpool.margin._expiry import settlement_ticks
from darkpool.margin._funding import FundingRate, funding_rate
from darkpool.margin._joint import Allocated, joint_caps
from darkpool.margin._offsets import Correlation, parse_correlations
from darkpool.margin._oracle import Mark, MarkOracle
from darkpool.margin._portfolio import MarginArrays, portfolio_margin, portfolio_margin_loop, scenario_pnl
from darkpool.margin._reports import AccountMargin, CapRequest, Greeks, LiquidationOrder
from darkpool.margin._scenarios import RiskArrays, Scenario, build_risk_arrays, scenarios
from darkpool.margin._snapshot import engine_from_snapshot, margin_snapshot
from darkpool.margin._state import Position
from darkpool.margin._surface import Smile, VolSurface

__all__ = [
    "UNBOUNDED_LOTS",
    "AccountMargin",
    "Allocated",
    "CapRequest",
    "Correlation",
    "FundingRate",
    "Greeks",
    "LiquidationOrder",
    "MarginArrays",
    "MarginConfig",
    "MarginEngine",
    "Mark",
    "MarkOracle",
    "OptionGreeks",
    "Position",
    "RiskArrays",
    "Scenario",
    "Smile",
    "VolSurface",
    "build_risk_arrays",
    "engine_from_snapshot",
    "funding_rate",
    "joint_caps",
    "margin_snapshot",
    "option_greeks",
    "option_value",
    "parse_correlations",
    "portfolio_margin",
    "portfolio_margin_loop",
    "scenario_pnl",
    "scenarios",
    "settlement_ticks",
    "share_deficits",
]
