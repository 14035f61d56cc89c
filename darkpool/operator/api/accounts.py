"""Accounts: balances, positions, fills, margin and inclusion proofs of one account — to itself only.

Every route needs the account's fresh signed ``AccountRead`` (see :func:`deps.require_reader`).
"""

from __future__ import annotations

from fastapi import APIRouter

from darkpool.operator.api.deps import Core, Reader
from darkpool.operator.api.schemas import BalanceView, FillView, MarginView, ProofsView
from darkpool.operator.batches import proofs_of

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.get("/{address}/balance")
async def balance(who: Reader, core: Core) -> BalanceView:
    """Return the account's balance, free balance and locked bonds (token base units)."""
    return BalanceView(**core.balance_view(who))


@router.get("/{address}/positions")
async def positions(who: Reader, core: Core) -> dict[str, int]:
    """Return the account's net position per instrument (lots, long positive)."""
    with core.lock:
        if who not in core.margin.accounts:
            return {}
        return {p.instrument: p.lots for p in core.margin.positions(who)}


@router.get("/{address}/fills")
async def fills(who: Reader, core: Core) -> list[FillView]:
    """Return every fill of the account."""
    return [
        FillView(round_id=f.round_id, instrument=f.instrument, order_id=f.order_id, side=f.side.label,
                 quantity_lots=int(f.quantity_lots), price_ticks=int(f.price_ticks))
        for f in core.books.fills_of(who)
    ]


@router.get("/{address}/margin")
async def margin(who: Reader, core: Core) -> MarginView:
    """Return the account's portfolio margin now (needs fresh marks)."""
    with core.lock:
        if who not in core.margin.accounts:
            return MarginView(account=who, equity=0, initial_margin=0, maintenance_margin=0, free_collateral=0,
                              under_maintenance=False)
        m = core.margin.account_margin(who, core.tick())
    return MarginView(account=who, equity=m.equity, initial_margin=m.initial_margin,
                      maintenance_margin=m.maintenance_margin, free_collateral=m.free_collateral,
                      under_maintenance=m.under_maintenance)


@router.get("/{address}/proofs")
async def proofs(who: Reader, core: Core) -> list[ProofsView]:
    """Return, per committed batch, the account's balance, fills and withdrawals with proofs."""
    return [ProofsView(**p) for p in proofs_of(core, who)]
