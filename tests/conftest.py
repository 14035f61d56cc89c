"""Shared Hypothesis profiles (CI runs are derandomized so a landing never depends on luck); a failing run
keeps its exit status once concrete has run a circuit (see :mod:`darkpool.exitstatus`)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Keep a failing run's status: once a circuit has run, concrete's exit handlers would make it 0."""
    import sys

    from darkpool.exitstatus import exit_with_status

    if _exit_status and _exit_status[-1] != 0 and "concrete" in sys.modules and not hasattr(config, "workerinput"):
        exit_with_status(_exit_status[-1])
