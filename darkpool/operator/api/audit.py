"""Data for auditors: the journal and every finished round's publication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from darkpool.operator.api.deps import Core
from darkpool.operator.publication import publication

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/journal")
async def journal(core: Core, after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """Durable journal entries with ``seq > after``, oldest first."""
    return [e.to_json_dict() for e in core.journal.entries(after, limit)]


@router.get("/rounds")
async def rounds(core: Core) -> list[dict[str, object]]:
    """Every cleared round with what it publishes (commit-reveal: the replayable publication)."""
    with core.lock:
        return [publication(r) for r in core.rounds.values() if r.phase.value == "cleared"]
