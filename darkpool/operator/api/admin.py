"""Operator-only feeds: chain deposit events, oracle marks, deposit sync from the vault; custodian orphans."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from darkpool.domain import account
from darkpool.errors import ValidationError
from darkpool.operator.api.deps import Admin, Core
from darkpool.operator.api.schemas import DepositCredit, DepositEvent, MarkRequest, VolSurfaceRequest
from darkpool.web.http import AckResponse, ack

router = APIRouter(prefix="/admin", tags=["admin"])
_log = logging.getLogger("darkpool.operator")


@router.post("/deposits")
async def credit_deposit(body: DepositEvent, core: Core, _: Admin) -> DepositCredit:
    """Credit one vault ``Deposited`` event (idempotent by deposit id).

    An operator that settles on chain credits only the vault's own events: a credit the chain does
    not hold would make every later batch revert (the vault checks the deposits a batch counts).
    """
    deposits = getattr(core.settler, "deposits", None)
    if deposits is not None:
        on_chain = {d[0]: (d[0], account(d[1]), d[2]) for d in await run_in_threadpool(deposits)}
        if on_chain.get(body.deposit_id) != (body.deposit_id, account(body.account), body.amount):
            raise ValidationError(f"deposit {body.deposit_id} of {body.amount} to {body.account} is not a vault "
                                  "Deposited event")
    appended = core.credit_deposit(body.deposit_id, body.account, body.amount)
    if appended is None:
        return DepositCredit(credited=False, deposit_id=body.deposit_id)
    done = await ack(appended)
    _log.info("deposit credited", extra={"account": body.account, "deposit_id": body.deposit_id, "seq": done.seq})
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


@router.post("/oracle/pull")
async def pull_marks(core: Core, _: Admin) -> dict[str, str]:
    """Read every configured price feed: a good answer becomes the mark, a bad one halts its underlying."""
    outcome, appended = await run_in_threadpool(core.pull_marks)
    for entry in appended:
        await ack(entry)  # durable before answering
    return outcome


@router.post("/funding")
async def accrue_funding(core: Core, _: Admin) -> dict[str, Any]:
    """Pay perpetual funding for every interval ended since the last payment (journaled per perpetual)."""
    paid = await run_in_threadpool(core.accrue_funding)
    done = [await ack(appended) for _, appended in paid]
    return {"payments": [{"symbol": e.symbol, "intervals": e.intervals, "rate": e.rate, "per_lot": e.per_lot,
                          "last_price_ticks": e.last_price_ticks, "index_price": e.index_price} for e, _ in paid],
            "seq": done[-1].seq if done else None}


@router.post("/custodian/orphans")
async def spend_orphans(core: Core, _: Admin) -> dict[str, list[int]]:
    """Spend the rounds the custodian holds open for this operator that its journal does not know (done at
    start-up as well): an FHE open cut short by a crash after the custodian answered."""
    from darkpool.operator.rounds_fhe import spend_orphans as spend

    return {"spent": await run_in_threadpool(spend, core)}


@router.post("/vol-surface")
async def set_vol_surface(body: VolSurfaceRequest, core: Core, _: Admin) -> AckResponse:
    """Set an underlying's implied volatility surface (journaled; options are priced from it)."""
    smiles = [(s.expiry, s.atm, s.skew, s.curvature) for s in body.smiles]
    return await ack(core.set_vol_surface(body.underlying, smiles))


@router.post("/marks")
async def set_mark(body: MarkRequest, core: Core, _: Admin) -> AckResponse:
    """Record an oracle mark of an underlying."""
    return await ack(core.set_mark(body.underlying, body.price))
