"""Batches: settle the books on chain (operator only) and read committed batches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from darkpool.operator.api.deps import Admin, Core
from darkpool.operator.batches import find_batch, settle_batch
from darkpool.web.http import ack

router = APIRouter(prefix="/batches", tags=["batches"])


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "fills_end"}


@router.post("", status_code=201)
async def settle(core: Core, _: Admin) -> dict[str, Any]:
    """Commit the current books as the next batch on chain."""
    appended, record = await run_in_threadpool(settle_batch, core)
    done = await ack(appended)
    return {"seq": done.seq, "head": done.head, **_public(record)}


@router.get("")
async def list_batches(core: Core) -> list[dict[str, Any]]:
    """Every committed batch with its roots and leaves (the data auditors and clients check)."""
    return [_public(r) for r in core.batches]


@router.get("/{batch_id}")
async def get_batch(batch_id: int, core: Core) -> dict[str, Any]:
    return _public(find_batch(core, batch_id))
