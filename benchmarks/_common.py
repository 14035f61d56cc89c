"""Helpers shared by the benchmark scripts: timing and JSON-line output."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    """Print one JSON line ``{"metric", "value", "unit", ...}``."""
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
