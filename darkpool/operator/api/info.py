"""The operator's signing domain and instruments."""

from __future__ import annotations

from fastapi import APIRouter

from darkpool.operator.api.deps import Core, Settings
from darkpool.operator.api.schemas import DomainInfo

router = APIRouter(tags=["info"])


@router.get("/info")
async def info(core: Core, settings: Settings) -> DomainInfo:
    """Return what clients sign against: chain id, vault (verifying contract), token, instruments."""
    return DomainInfo(
        chain_id=core.config.domain.chain_id, verifying_contract=core.config.domain.verifying_contract,
        token=core.config.token, operator=core.operator_address,
        instruments=[{"symbol": i.symbol, "kind": i.kind.value, "underlying": i.underlying,
                      "strike_ticks": i.strike_ticks, "expiry": i.expiry,
                      "tick_size": i.tick_size, "lot_size": i.lot_size,
                      "right": None if i.right is None else i.right.value} for i in core.config.instruments],
        custodian_url=settings.custodian_url, mark_max_age_s=core.margin.config.mark_max_age_s,
    )
