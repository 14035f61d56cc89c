"""Operations for every service: JSON logs, Prometheus metrics, liveness and readiness.

Logs are one JSON object per line (time, level, logger, message, and the fields a caller passes
in ``extra`` such as ``round`` or ``account``); nothing logs an order field. Metrics live in a
registry per app (tests build many apps in one process), served at ``GET /metrics``; every request
is counted and timed under its route template, never its raw path. ``GET /health`` answers while
the process does; ``GET /ready`` answers 200 only while the service can serve: its own checks
pass and it is not draining (a SIGTERM marks it so, see :func:`mark_draining`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel

from darkpool.errors import ServiceUnavailable
from darkpool.web.http import ErrorResponse

__all__ = ["METRICS_RESPONSES", "READY_RESPONSES", "HealthView", "JsonFormatter", "MetricsMiddleware",
           "ReadinessView", "ServiceMetrics", "configure_logging", "install_observability", "mark_draining",
           "readiness", "scrape"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line; ``extra`` fields are kept, values that are not JSON become text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``darkpool`` loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("darkpool")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)


class ServiceMetrics:
    """The metrics of one service: its own registry, requests by route and status, request latency.

    A service with metrics of its own subclasses this and registers them on ``self.registry``."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter("darkpool_requests", "HTTP requests answered, by route template, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("darkpool_request_seconds", "HTTP request latency by route template and method",
                                 ["route", "method"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60))

    def before_scrape(self) -> None:
        """Refresh gauges read from the service's state (none here)."""


class MetricsMiddleware:
    """ASGI middleware counting and timing every HTTP request under its route template."""

    def __init__(self, app: Any, metrics: ServiceMetrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app, self.metrics, self.clock = app, metrics, clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = self.clock(), [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The template, not the path: a path holds ids and addresses, and labels must stay few.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(route, method, str(status[0])).inc()
            self.metrics.latency.labels(route, method).observe(self.clock() - start)


def install_observability(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Give ``app`` JSON logs, ``metrics`` (counting every request) and a readiness that drains."""
    configure_logging()
    app.state.metrics = metrics
    app.state.draining = False
    app.add_middleware(MetricsMiddleware, metrics=metrics)


def mark_draining(app: object) -> None:
    """Mark a service stopping: ``/ready`` answers 503 from now on, while in-flight requests finish."""
    state = getattr(app, "state", None)
    if state is not None:
        state.draining = True


class HealthView(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    service: str


class ReadinessView(BaseModel):
    """Readiness: every check of the service passes (a failing one answers 503 instead)."""

    ready: bool
    checks: dict[str, bool]


READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "not ready (code service_unavailable): a check fails or the "
                                                 "service is draining after SIGTERM; the message names the checks"}}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Prometheus text exposition format"}}


def readiness(request: Request, checks: Mapping[str, bool]) -> ReadinessView:
    """The service's readiness: ``checks`` and not draining; raise :class:`ServiceUnavailable` unless all pass."""
    every = {**checks, "accepting": not request.app.state.draining}
    failing = [name for name, ok in every.items() if not ok]
    if failing:
        raise ServiceUnavailable(f"not ready; failing checks: {', '.join(failing)}")
    return ReadinessView(ready=True, checks=every)


def scrape(request: Request) -> PlainTextResponse:
    """The app's metrics in the Prometheus text format."""
    metrics: ServiceMetrics = request.app.state.metrics
    metrics.before_scrape()
    return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
