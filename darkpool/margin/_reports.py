"""Read-only results the engine hands out: margin per account, Greeks, liquidation orders."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from darkpool.domain import Account, BaseUnits, Lots, Order, OrderId, Side, Ticks
from darkpool.margin._scenarios import Scenario

__all__ = ["AccountMargin", "CapRequest", "Greeks", "LiquidationOrder", "margin_ratio"]


def margin_ratio(maintenance: int, equity: int) -> float:
    """Return maintenance / equity: 1.0 or more means liquidation (inf when equity is not positive)."""
    if maintenance <= 0:
        return 0.0
    return math.inf if equity <= 0 else maintenance / equity


@dataclass(frozen=True, slots=True)
class AccountMargin:
    """One account's margin in collateral base units.

    Requirements are rounded up and equity down (against the account). ``free_collateral`` is
    equity minus initial margin and may be negative. ``worst_scenario`` is the worst stress of
    ``worst_underlying``, the underlying with the largest scenario loss.
    """

    account: Account
    equity: BaseUnits
    initial_margin: BaseUnits
    maintenance_margin: BaseUnits
    worst_loss: BaseUnits
    worst_scenario: Scenario
    worst_underlying: str

    @property
    def free_collateral(self) -> int:
        return self.equity - self.initial_margin

    @property
    def margin_ratio(self) -> float:
        return margin_ratio(self.maintenance_margin, self.equity)

    @property
    def under_maintenance(self) -> bool:
        return self.equity < self.maintenance_margin

    def to_json_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready values (integers in base units)."""
        ratio = self.margin_ratio
        return {
            "account": self.account,
            "equity": self.equity,
            "initial_margin": self.initial_margin,
            "maintenance_margin": self.maintenance_margin,
            "free_collateral": self.free_collateral,
            "margin_ratio": ratio if math.isfinite(ratio) else None,
            "worst_loss": self.worst_loss,
            "worst_underlying": self.worst_underlying,
            "worst_scenario": {
                "move": self.worst_scenario.move,
                "vol_shift": self.worst_scenario.vol_shift,
                "extended": self.worst_scenario.extended,
            },
        }


@dataclass(frozen=True, slots=True)
class Greeks:
    """Sensitivities in quote units: ``delta`` (underlying units), ``gamma`` (underlying units per
    quote unit of underlying price), ``vega`` (per vol point, 0.01), ``theta`` (per calendar day).

    Account totals add Greeks across underlyings; read them per underlying when that matters.
    """

    delta: float
    gamma: float
    vega: float
    theta: float


class CapRequest(NamedTuple):
    """An order to cap: ``account`` wants to trade ``instrument`` on ``side`` at ``limit_ticks``.

    A named tuple, not a dataclass: a round caps every reveal at once, 100,000 of them.
    """

    account: Account
    instrument: str
    side: Side
    limit_ticks: Ticks
    max_lots: Lots | None = None


@dataclass(frozen=True, slots=True)
class LiquidationOrder:
    """A reduce-only order the liquidation queue submits to the next round of ``instrument``."""

    account: Account
    instrument: str
    side: Side
    quantity_lots: Lots
    limit_ticks: Ticks
    reduce_only: bool = True

    def to_order(self, order_id: OrderId, priority: int) -> Order:
        """Return the order a round's engine takes, with the operator's id and sequence number."""
        return Order(order_id, self.side, self.limit_ticks, self.quantity_lots, priority)
