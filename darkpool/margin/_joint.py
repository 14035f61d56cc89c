"""Joint caps: one account's orders in one round judged together, not each alone.

In a uniform-price round every fill of an instrument happens at the one clearing price ``p``: a
buy fills only if ``p`` is at or below its limit, a sell only if at or above. So, per account and
side, the round's orders share one budget: the cap of their *total* quantity at the side's most
aggressive limit (the highest buy limit, the lowest sell limit) — what the account could afford if
every one of them filled at the worst price any of them accepts — allocated to the orders in
arrival order (``min(quantity, what is left)``). Whatever subset fills, at whatever price they
accept, the side's total stays within a quantity the account affords at a price no better for it,
so free collateral stays at or above where the single cap keeps it.

Both sides at once: an account whose buys and sells both fill trades at one price, and its net
position lies between the two one-sided outcomes; scenario margin is a maximum of linear losses
(with cross-underlying offsets a positive combination of such maxima: convex in the position
either way) and the PnL at the clearing price is linear, so free collateral is
concave in the net trade and at least the smaller of the two one-sided values — both kept by the
budgets. Fees are the exception: a self-crossing account pays the fee on both sides, which the
one-sided budgets do not include (zero at the default ``fee_rate``).

Orders already capped earlier in the round (reveals arrive over time) are passed as ``allocated``
and count against the budget first. FHE rounds keep their side-agnostic cap per slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from darkpool.domain import Account, Lots, Side, Ticks
from darkpool.margin._engine import MarginEngine
from darkpool.margin._reports import CapRequest

__all__ = ["Allocated", "joint_caps"]

Allocated = Mapping[tuple[Account, Side], tuple[int, int]]
"""Per account and side: lots already allotted in the round and the most aggressive limit among them."""


def joint_caps(engine: MarginEngine, requests: Sequence[CapRequest], now: int,
               allocated: Allocated | None = None) -> list[Lots]:
    """Cap ``requests`` (one round, one instrument, in arrival order) jointly per account and side.

    Each request's ``max_lots`` is its quantity. Returns one cap per request.
    """
    before = allocated or {}
    groups: dict[tuple[Account, Side], list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault((request.account, request.side), []).append(index)
    keys = list(groups)
    budgets_asked = []
    for key in keys:
        members = [requests[i] for i in groups[key]]
        used, limit = before.get(key, (0, None))
        limits = [int(r.limit_ticks) for r in members] + ([] if limit is None else [limit])
        worst = max(limits) if key[1] is Side.BUY else min(limits)
        wanted = used + sum(int(r.max_lots or 0) for r in members)
        budgets_asked.append(CapRequest(key[0], members[0].instrument, key[1], Ticks(worst), Lots(wanted)))
    budgets = engine.caps(budgets_asked, now)
    out: list[Lots] = [Lots(0)] * len(requests)
    for key, budget in zip(keys, budgets, strict=True):
        left = max(0, int(budget) - before.get(key, (0, None))[0])
        for index in groups[key]:
            take = min(int(requests[index].max_lots or 0), left)
            out[index] = Lots(take)
            left -= take
    return out
