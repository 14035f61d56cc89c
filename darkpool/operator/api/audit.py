"""Data for auditors: the journal and every finished round's publication.

The public sees private entries (FHE slots, orders and sides; batches with their leaves) only as
``(seq, kind, payload_hash, head)``: enough to verify the whole hash chain and the heads on chain,
nothing of who traded what. The designated auditors (their bearer token) and the operator see all.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from darkpool.operator.api.deps import Core, FullView
from darkpool.operator.events import PRIVATE_KINDS
from darkpool.operator.publication import publication

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/journal")
async def journal(core: Core, full: FullView, after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """Durable journal entries with ``seq > after``, oldest first (private ones as digests unless audited)."""
    return [(e if full or e.kind not in PRIVATE_KINDS else e.redacted()).to_json_dict()
            for e in core.journal.entries(after, limit)]


@router.get("/rounds")
async def rounds(core: Core, full: FullView) -> list[dict[str, object]]:
    """Every cleared round with what it publishes (commit-reveal: the replayable publication)."""
    with core.lock:
        return [publication(r, full) for r in core.rounds.values() if r.phase.value == "cleared"]
