"""Operations for both services: structured JSON logs, Prometheus metrics, request accounting.

Logs are one JSON object per line (time, level, logger, message, and the fields a caller passes
in ``extra`` such as ``round`` or ``account``); nothing logs an order field. Metrics live in a
registry per app (tests build many apps in one process), served at ``GET /metrics``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["JsonFormatter", "MetricsMiddleware", "ServiceMetrics", "configure_logging"]

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
    """The metrics of one service, and an ASGI middleware that counts and times its requests."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter("darkpool_requests", "HTTP requests answered", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("darkpool_request_seconds", "HTTP request latency", ["route", "method"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60))
        self.journal_lag = Gauge("darkpool_journal_lag_entries", "Journal entries accepted but not yet durable",
                                 registry=self.registry)
        self.journal_seq = Gauge("darkpool_journal_seq", "Last journal sequence number", registry=self.registry)
        self.round_seconds = Histogram("darkpool_round_seconds", "Seconds from a round's announcement to its end",
                                       ["mode"], registry=self.registry,
                                       buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))
        self.fhe_evaluation_seconds = Histogram("darkpool_fhe_evaluation_seconds",
                                                "Seconds one FHE round took to evaluate and decrypt",
                                                registry=self.registry, buckets=(1, 5, 10, 20, 40, 60, 120, 300))



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
            route = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(route, method, str(status[0])).inc()
            self.metrics.latency.labels(route, method).observe(self.clock() - start)
