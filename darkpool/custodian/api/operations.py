"""The custodian's liveness, readiness and Prometheus metrics (its decryption log)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import Gauge

from darkpool.custodian.api.deps import Core
from darkpool.custodian.core import CustodianCore
from darkpool.web.observability import (
    METRICS_RESPONSES,
    READY_RESPONSES,
    HealthView,
    ReadinessView,
    ServiceMetrics,
    readiness,
    scrape,
)

__all__ = ["CustodianMetrics", "router"]

router = APIRouter(tags=["operations"])


class CustodianMetrics(ServiceMetrics):
    """The custodian's metrics: the shared request metrics and its decryption log."""

    def __init__(self, core: CustodianCore) -> None:
        super().__init__("custodian")
        self.core = core
        self.decryptions = Gauge("darkpool_custodian_decryptions", "Entries of the decryption log (rounds decrypted "
                                 "or voided)", registry=self.registry)
        self.void_rounds = Gauge("darkpool_custodian_void_rounds", "Rounds the decryption log holds with no outputs",
                                 registry=self.registry)
        self.refusals = Gauge("darkpool_custodian_refusals", "Decryption requests refused before decrypting "
                              "since the custodian started", registry=self.registry)
        self.halted = Gauge("darkpool_custodian_halted", "1 once the custodian decrypts nothing more",
                            registry=self.registry)

    def before_scrape(self) -> None:
        # Without the core's lock: it is held through a decryption, and a scrape must not wait on one.
        self.decryptions.set(len(self.core.log.entries))
        self.void_rounds.set(self.core.void_rounds())
        self.refusals.set(len(self.core.refusals))
        self.halted.set(int(self.core.halted))


@router.get("/health")
def health() -> HealthView:
    """Liveness: the process answers (always 200; a halted custodian is alive)."""
    return HealthView(service="custodian")


@router.get("/ready", responses=READY_RESPONSES)
def ready(core: Core, request: Request) -> ReadinessView:
    """Readiness: it still decrypts (not halted after a void round) and is not draining; 503 otherwise.

    Its key sets are loaded (or generated) before the app is built, so an answering custodian has them."""
    return readiness(request, {"decrypting": not core.halted})


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS_RESPONSES)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests and latencies by route template, decryptions, void rounds, refusals."""
    return scrape(request)
