"""The operator's liveness, readiness and Prometheus metrics (journal, rounds, FHE evaluations)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import Gauge, Histogram
from starlette.concurrency import run_in_threadpool

from darkpool.errors import DarkPoolError
from darkpool.operator.api.deps import Core
from darkpool.operator.core import OperatorCore
from darkpool.web.observability import (
    METRICS_RESPONSES,
    READY_RESPONSES,
    HealthView,
    ReadinessView,
    ServiceMetrics,
    readiness,
    scrape,
)

__all__ = ["OperatorHealthView", "OperatorMetrics", "router"]

router = APIRouter(tags=["operations"])


class OperatorMetrics(ServiceMetrics):
    """The operator's metrics: the shared request metrics, its journal, its rounds and FHE evaluations."""

    def __init__(self, core: OperatorCore) -> None:
        super().__init__("operator")
        self.core = core
        self.journal_lag = Gauge("darkpool_journal_lag_entries",
                                 "Journal entries appended but not yet durable (the group commit's backlog)",
                                 registry=self.registry)
        self.journal_seq = Gauge("darkpool_journal_seq", "Last journal sequence number", registry=self.registry)
        self.round_seconds = Histogram("darkpool_round_seconds", "Seconds from a round's announcement to its clearing",
                                       ["mode"], registry=self.registry,
                                       buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))
        self.fhe_evaluation_seconds = Histogram(
            "darkpool_fhe_evaluation_seconds",
            "Seconds one FHE round took to evaluate, be re-evaluated by the verifiers and be decrypted",
            registry=self.registry, buckets=(1, 5, 10, 20, 40, 60, 120, 300, 600, 1800))
        self.fhe_round_bootstraps = Histogram(
            "darkpool_fhe_round_bootstraps", "Programmable bootstraps in one evaluation of an FHE round's circuit",
            registry=self.registry, buckets=(100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000))

    def before_scrape(self) -> None:
        self.journal_lag.set(self.core.journal.lag)
        self.journal_seq.set(int(self.core.journal.seq))


class OperatorHealthView(HealthView):
    """Liveness, with the journal's position for whoever watches the operator."""

    journal_seq: int
    journal_head: str


@router.get("/health")
async def health(core: Core) -> OperatorHealthView:
    """Liveness: the process answers (always 200), with its journal position."""
    return OperatorHealthView(service="operator", journal_seq=int(core.journal.seq),
                              journal_head="0x" + core.journal.head.hex())


@router.get("/ready", responses=READY_RESPONSES)
async def ready(core: Core, request: Request) -> ReadinessView:
    """Readiness: journal replayed and taking appends, state in step with it, chain reachable if one is
    configured, not draining after SIGTERM; 503 otherwise."""
    checks = {"journal": core.journal.healthy, "state": core.healthy}
    if core.settler is not None:
        try:
            await run_in_threadpool(core.settler.last_batch_id)
            checks["chain"] = True
        except DarkPoolError:
            checks["chain"] = False
    return readiness(request, checks)


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS_RESPONSES)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests and latencies by route template, journal lag and position, round
    durations, FHE evaluation times and bootstraps per round."""
    return scrape(request)
