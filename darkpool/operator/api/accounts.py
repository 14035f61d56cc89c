"""Accounts: balances, positions, fills, margin and inclusion proofs of one account."""

from __future__ import annotations

from fastapi import APIRouter

from darkpool.domain import account
from darkpool.operator.api.deps import Core
from darkpool.operator.api.schemas import BalanceView, FillView, MarginView, ProofsView
from darkpool.operator.batches import proofs_of

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.get("/{address}/balance")
async def balance(address: str, core: Core) -> BalanceView:
    """Return the account's balance, free balance and locked bonds (token base units)."""
    return BalanceView(**core.balance_view(account(address)))


@router.get("/{address}/positions")
async def positions(address: str, core: Core) -> dict[str, int]:
    """Return the account's net position per instrument (lots, long positive)."""
    who = account(address)
    with core.lock:
        if who not in core.margin.accounts:
            return {}
        return {p.instrument: p.lots for p in core.margin.positions(who)}


@router.get("/{address}/fills")
async def fills(address: str, core: Core) -> list[FillView]:
    """Return every fill of the account."""
    return [
        FillView(round_id=f.round_id, instrument=f.instrument, order_id=f.order_id, side=f.side.label,
                 quantity_lots=int(f.quantity_lots), price_ticks=int(f.price_ticks))
        for f in core.books.fills_of(account(address))
    ]


@router.get("/{address}/margin")
async def margin(address: str, core: Core) -> MarginView:
    """Return the account's portfolio margin now (needs fresh marks)."""
    who = account(address)
    with core.lock:
        if who not in core.margin.accounts:
            return MarginView(account=who, equity=0, initial_margin=0, maintenance_margin=0, free_collateral=0,
                              under_maintenance=False)
        m = core.margin.account_margin(who, core.tick())
    return MarginView(account=who, equity=m.equity, initial_margin=m.initial_margin,
                      maintenance_margin=m.maintenance_margin, free_collateral=m.free_collateral,
                      under_maintenance=m.under_maintenance)


@router.get("/{address}/proofs")
async def proofs(address: str, core: Core) -> list[ProofsView]:
    """Return, per committed batch, the account's balance, fills and withdrawals with proofs."""
    return [ProofsView(**p) for p in proofs_of(core, address)]
