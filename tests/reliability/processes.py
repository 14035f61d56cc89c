"""Real service processes for the reliability tests: started on a free port, stopped by signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from darkpool.web.serve import free_port
from tests.operator.helpers import ADMIN, TOKEN, VAULT

REPO = Path(__file__).resolve().parents[2]
_PORT_ATTEMPTS = 3


def operator_env(journal: Path, port: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "DARKPOOL_JOURNAL": str(journal), "DARKPOOL_ADMIN_TOKEN": ADMIN,
            "DARKPOOL_SECRETS_DIR": str(journal.parent / "secrets"), "DARKPOOL_VAULT": VAULT,
            "DARKPOOL_TOKEN": TOKEN, "DARKPOOL_PORT": str(port), "DARKPOOL_MARK_MAX_AGE_S": "100000",
            "DARKPOOL_RATE_BURST": "100000", "DARKPOOL_RATE_PER_S": "100000", **extra}


def wait_healthy(process: subprocess.Popen[bytes], url: str, patience_s: float = 60.0) -> None:
    """Poll ``/health`` until the service answers (it replays its journal first)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, f"service exited at start with {process.returncode}"
        assert time.monotonic() < deadline, "service did not start"
        time.sleep(0.05)


@contextmanager
def operator_process(journal: Path, module: tuple[str, ...] = ("darkpool.web", "operator"),
                     **extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run ``python -m darkpool.web operator`` (or ``module``) on ``journal``; SIGKILL it on the way out if alive.

    The port is probed free, then bound by the child: if something took it in between, the child exits at
    start and another port is tried (a port is never shared, so a healthy answer is this child's).
    """
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", *module],
                                   env=operator_env(journal, port, **extra), cwd=REPO, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(process, url)
            break
        except AssertionError:
            if process.poll() is None:
                process.kill()
            process.wait(30)
            if attempt == _PORT_ATTEMPTS or process.returncode < 0:
                raise
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def journal_entries(url: str) -> list[dict[str, Any]]:
    """Every journal entry, with private payloads (the admin's view)."""
    entries: list[dict[str, Any]] = []
    while True:
        page = httpx.get(f"{url}/audit/journal", params={"after": entries[-1]["seq"] if entries else 0,
                                                           "limit": 1000},
                         headers={"authorization": f"Bearer {ADMIN}"}, timeout=30).json()
        if not page:
            return entries
        entries.extend(page)


def committed(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The ``(account, nonce)`` of every commitment the journal holds."""
    out: list[tuple[str, int]] = []
    for entry in entries:
        if entry["kind"] == "commits":
            columns = json.loads(entry["payload"])["commits"]
            nonces = columns["nonce"]
            accounts = columns["account"]  # one value when every commitment of the entry is one account's
            accounts = [accounts] * len(nonces) if isinstance(accounts, str) else accounts
            out.extend(zip(accounts, nonces, strict=True))
    return out
