"""What to do when a test's real dependency (a server binary, a node) is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, where ``make install`` must have provided it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: see the Makefile)")
    pytest.skip(reason)


def ray_already_running() -> NoReturn:
    """A Ray a test must start is already up in this process (another module left it running): skip on a
    developer's machine, fail in CI, where every Ray fixture shuts its cluster down and this cannot happen."""
    reason = "a Ray of this process is already running"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: a fixture did not shut its cluster down")
    pytest.skip(reason)
