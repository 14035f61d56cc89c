"""Batches: settle the books on chain (operator only) and read committed batches."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from darkpool.operator.api.deps import Admin, Core
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
async def list_batches(core: Core) -> list[BatchView]:
    """Every journaled batch with its roots and leaves (the data auditors and clients check)."""
    return [BatchView(**r.to_json_dict()) for r in core.batches]


@router.get("/{batch_id}")
async def get_batch(batch_id: int, core: Core) -> BatchView:
    return BatchView(**find_batch(core, batch_id).to_json_dict())
