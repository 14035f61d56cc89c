"""The reference clearing engine: DESIGN.md §2 in plain Python, written to be read.

This is the oracle every other engine is tested against, so it favours the obvious over the
fast: it walks every level and every order.
"""

from __future__ import annotations

from collections.abc import Sequence

from darkpool.domain import Lots, Order, OrderId, Round, RoundResult, Side, Ticks

__all__ = ["LevelCurve", "clear_reference", "curves"]


class LevelCurve(tuple[int, int, int, int]):
    """``(price_ticks, demand_lots, supply_lots, volume_lots)`` at one band level."""

    __slots__ = ()

    @property
    def price_ticks(self) -> int:
        return self[0]

    @property
    def demand_lots(self) -> int:
        return self[1]

    @property
    def supply_lots(self) -> int:
        return self[2]

    @property
    def volume_lots(self) -> int:
        return self[3]


def _is_eligible(order: Order, price: int) -> bool:
    if order.side is Side.BUY:
        return order.limit_ticks >= price
    return order.limit_ticks <= price


def curves(round_: Round, orders: Sequence[Order]) -> list[LevelCurve]:
    """Demand, supply and volume at every band level, lowest price first."""
    result = []
    for level in range(round_.levels):
        price = round_.price_at(level)
        demand = sum(o.quantity_lots for o in orders if o.side is Side.BUY and _is_eligible(o, price))
        supply = sum(o.quantity_lots for o in orders if o.side is Side.SELL and _is_eligible(o, price))
        result.append(LevelCurve((price, demand, supply, min(demand, supply))))
    return result


def clear_reference(round_: Round, orders: Sequence[Order]) -> RoundResult:
    """Clear one round by the rule of DESIGN.md §2.

    The clearing level maximises volume; ties go to the smallest imbalance ``|D - S|``, then to
    the price closest to the reference, then to the lower price. At that price the side whose
    eligible total equals the volume fills completely and the other side fills in ascending
    priority (input order breaks equal priorities).
    """
    zero = {o.id: Lots(0) for o in orders}
    best = min(
        curves(round_, orders),
        key=lambda c: (-c.volume_lots, abs(c.demand_lots - c.supply_lots),
                       abs(c.price_ticks - round_.reference_ticks), c.price_ticks),
    )
    if best.volume_lots == 0:
        return RoundResult(price_ticks=None, volume_lots=Lots(0), fills=zero)

    price, volume = best.price_ticks, best.volume_lots
    fills: dict[OrderId, Lots] = dict(zero)
    for side, total in ((Side.BUY, best.demand_lots), (Side.SELL, best.supply_lots)):
        eligible = [o for o in orders if o.side is side and _is_eligible(o, price)]
        if total == volume:
            for o in eligible:
                fills[o.id] = o.quantity_lots
            continue
        # Rationed side: time priority. sorted() is stable, so input order breaks ties.
        earlier = 0
        for o in sorted(eligible, key=lambda o: o.priority):
            fills[o.id] = Lots(min(o.quantity_lots, max(0, volume - earlier)))
            earlier += o.quantity_lots
    return RoundResult(price_ticks=Ticks(price), volume_lots=Lots(volume), fills=fills)
