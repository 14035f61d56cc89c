"""The operator's signing domain, instruments and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from darkpool.errors import DarkPoolError, ServiceUnavailable
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
                      "strike_ticks": i.strike_ticks, "expiry": i.expiry} for i in core.config.instruments],
        custodian_url=settings.custodian_url,
    )


@router.get("/health")
async def health(core: Core) -> dict[str, Any]:
    """Liveness: the process answers (its journal position, for operators watching it)."""
    return {"status": "ok", "journal_seq": int(core.journal.seq), "journal_head": "0x" + core.journal.head.hex()}


@router.get("/ready")
async def ready(core: Core) -> dict[str, Any]:
    """Readiness: journal replayed and taking appends, state in step with it, chain reachable if configured."""
    checks = {"journal": core.journal.healthy, "state": core.healthy}
    if core.settler is not None:
        try:
            await run_in_threadpool(core.settler.last_batch_id)
            checks["chain"] = True
        except DarkPoolError:
            checks["chain"] = False
    if not all(checks.values()):
        raise ServiceUnavailable(f"not ready: {', '.join(k for k, ok in checks.items() if not ok)} failing")
    return {"ready": True, "checks": checks}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, core: Core) -> PlainTextResponse:
    """Prometheus metrics: requests and latencies by route, journal lag, round and FHE evaluation times."""
    service = request.app.state.metrics
    service.journal_lag.set(core.journal.lag)
    service.journal_seq.set(int(core.journal.seq))
    return PlainTextResponse(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)
