"""Batches: settle the books on chain (operator only) and read committed batches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from darkpool.operator.api.deps import Admin, Core, FullView
from darkpool.operator.api.schemas import BatchView, SettleResponse
from darkpool.operator.batches import find_batch, settle_batch
from darkpool.web.http import ack

router = APIRouter(prefix="/batches", tags=["batches"])


@router.post("", status_code=201)
async def settle(core: Core, _: Admin) -> SettleResponse:
    """Post any batch journaled but not yet on chain, then commit the current books as the next batch."""
    appended, record = await run_in_threadpool(settle_batch, core)
    done = await ack(appended)
    return SettleResponse(seq=done.seq, head=done.head, **record.to_json_dict())


@router.get("")
async def list_batches(core: Core, full: FullView) -> list[BatchView]:
    """Every journaled batch with its roots (and its leaves for the auditors and the operator; each
    institution reads its own leaves and proofs at ``/accounts/{address}/proofs``)."""
    return [_view(r.to_json_dict(), full) for r in core.batches]


@router.get("/{batch_id}")
async def get_batch(batch_id: int, core: Core, full: FullView) -> BatchView:
    return _view(find_batch(core, batch_id).to_json_dict(), full)


def _view(record: dict[str, Any], full: bool) -> BatchView:
    if not full:
        record = {**record, "balances": None, "fills": None, "withdrawals": None}
    return BatchView(**record)
