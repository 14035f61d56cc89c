"""The decryption log: every decryption the custodian made, hash-chained, for auditors."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from darkpool.custodian.api.deps import Core
from darkpool.custodian.api.schemas import EvidenceView, LogEntryView, RefusalView
from darkpool.signing import signed_to_wire
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/log", tags=["log"])


@router.get("")
def decryption_log(core: Core) -> list[LogEntryView]:
    """The hash-chained decryption log, oldest first."""
    return [LogEntryView(**asdict(entry)) for entry in core.log_entries()]


@router.get("/evidence")
def evidence(core: Core) -> list[EvidenceView]:
    """Slots the operator granted twice, with both of its signed grants."""
    return [EvidenceView(round_id=e.round_id, slot=e.slot, first=SignedEnvelope(**signed_to_wire(e.first)),
                         second=SignedEnvelope(**signed_to_wire(e.second))) for e in core.evidence]


@router.get("/refusals")
def refusals(core: Core) -> list[RefusalView]:
    """Decryption requests refused before anything was decrypted (missing, foreign or invalid attestations,
    foreign keys, replays), oldest first: evidence of what the operator tried."""
    return [RefusalView(round_id=r.round_id, code=r.code, message=r.message) for r in core.refusals]
