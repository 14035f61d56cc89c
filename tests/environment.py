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
