"""Operator-only feeds: chain deposit events, oracle marks, deposit sync from the vault."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from darkpool.operator.api.deps import Admin, Core
from darkpool.operator.api.schemas import DepositCredit, DepositEvent, MarkRequest
from darkpool.web.http import AckResponse, ack

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/deposits")
async def credit_deposit(body: DepositEvent, core: Core, _: Admin) -> DepositCredit:
    """Credit one vault ``Deposited`` event (idempotent by deposit id)."""
    appended = core.credit_deposit(body.deposit_id, body.account, body.amount)
    if appended is None:
        return DepositCredit(credited=False, deposit_id=body.deposit_id)
    done = await ack(appended)
    return DepositCredit(credited=True, deposit_id=body.deposit_id, seq=done.seq, head=done.head)


@router.post("/deposits/sync")
async def sync_deposits(core: Core, _: Admin) -> dict[str, Any]:
    """Read the vault's ``Deposited`` events and credit the new ones."""
    from darkpool.operator.chain_watch import sync_deposits as sync

    credited = await run_in_threadpool(sync, core)
    return {"credited": credited}


@router.post("/expiries")
async def settle_expiries(core: Core, _: Admin) -> dict[str, Any]:
    """Cash-settle every dated instrument past its expiry at the oracle mark (once each)."""
    appended = core.settle_expiries()
    if appended is None:
        return {"settled": []}
    done = await ack(appended)
    return {"settled": sorted(core.expired), "seq": done.seq, "head": done.head}


@router.post("/marks")
async def set_mark(body: MarkRequest, core: Core, _: Admin) -> AckResponse:
    """Record an oracle mark of an underlying."""
    return await ack(core.set_mark(body.underlying, body.price))
