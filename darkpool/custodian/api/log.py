"""The decryption log: every decryption the custodian made, hash-chained, for auditors."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from darkpool.custodian.api.deps import Core
from darkpool.custodian.api.schemas import LogEntryView

router = APIRouter(prefix="/log", tags=["log"])


@router.get("")
def decryption_log(core: Core) -> list[LogEntryView]:
    """The hash-chained decryption log, oldest first."""
    return [LogEntryView(**asdict(entry)) for entry in core.log_entries()]
