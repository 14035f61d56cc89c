"""Kill -9 of the key custodian, seeded: right after it answers, and at random moments of a round.

The custodian runs as its own process (``python -m darkpool.web custodian``, simulated circuit),
the operator and a verifier in this one. Each run opens an FHE round, has the clients fetch their
masks and submit, and clears it, killing the custodian at the run's crash point: right after the
round was opened, after the k-th mask was delivered, after the decryption was answered, or at a
random moment (mid-request included). The custodian restarts on the same directory and port, and
then: a round in flight is finished or, if the crash spent it, aborted — never decrypted twice
(its log holds at most one decryption per round, and a second request is refused); masks are never
re-issued differently; a fresh round clears. ``slow`` runs 50 seeds, the default run two.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.errors import DarkPoolError
from darkpool.operator import create_operator_app
from darkpool.sdk import DarkPoolClient
from darkpool.verifier import create_verifier_app
from darkpool.web.serve import ServerThread, free_port
from darkpool.web.settings import OperatorSettings, VerifierSettings
from tests.operator.fhe_helpers import (
    BAND_LOW,
    CUSTODIAN_TOKEN,
    FHE_ORDERS,
    LEVELS,
    REFERENCE,
    VERIFIER_TOKEN,
)
from tests.operator.helpers import ADMIN, TOKEN, VAULT, identities
from tests.reliability.processes import REPO, wait_healthy

pytestmark = [pytest.mark.fhe, pytest.mark.xdist_group("kill9-custodian")]

CRASH_POINTS = ("after_open", "after_mask", "after_decrypt", "random")
DEFAULT_SEEDS = (0, 2)
SLOW_SEEDS = tuple(s for s in range(50) if s not in DEFAULT_SEEDS)


class Custodian:
    """The custodian process on a fixed port, killed with SIGKILL and restarted on the same state."""

    def __init__(self, tmp_path: Path, cache: Path, port: int, verifier: str, operator_port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ,
                    "DARKPOOL_CUSTODIAN_VAULT": VAULT, "DARKPOOL_CUSTODIAN_OPERATOR_TOKEN": CUSTODIAN_TOKEN,
                    "DARKPOOL_CUSTODIAN_LOG": str(tmp_path / "custodian-log.jsonl"),
                    "DARKPOOL_CUSTODIAN_KEY_DIR": str(tmp_path / "custodian-keys"),
                    "DARKPOOL_CUSTODIAN_CACHE_DIR": str(cache), "DARKPOOL_CUSTODIAN_SIMULATE": "true",
                    "DARKPOOL_CUSTODIAN_SHAPES": "4x4x255", "DARKPOOL_CUSTODIAN_VERIFIERS": verifier,
                    "DARKPOOL_CUSTODIAN_OPERATOR_URL": f"http://127.0.0.1:{operator_port}",
                    "DARKPOOL_CUSTODIAN_PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "darkpool.web", "custodian"], env=self.env, cwd=REPO,
                                        stderr=subprocess.DEVNULL)
        wait_healthy(self.process, self.url, patience_s=120)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def log(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/log", timeout=30).json())


@contextmanager
def _world(tmp_path: Path) -> Iterator[tuple[Custodian, str, Any]]:
    cache = tmp_path.parent / "fhe-cache"
    o_port, c_port = free_port(), free_port()
    with ExitStack() as stack:
        verifier_app = create_verifier_app(VerifierSettings(
            vault=VAULT, operator_token=VERIFIER_TOKEN, custodian_url=f"http://127.0.0.1:{c_port}",
            key_dir=str(tmp_path / "verifier-keys"), cache_dir=str(cache), simulate=True, shapes="4x4x255"))
        custodian = Custodian(tmp_path, cache, c_port, verifier_app.state.core.address, o_port)
        custodian.start()
        stack.callback(lambda: custodian.process is not None and custodian.process.poll() is None and custodian.kill())
        v_server = stack.enter_context(ServerThread(verifier_app))
        settings = OperatorSettings(journal=str(tmp_path / "journal.db"), vault=VAULT, token=TOKEN, admin_token=ADMIN,
                                    mark_max_age_s=10**6, custodian_url=custodian.url,
                                    secrets_dir=str(tmp_path / "operator-secrets"), custodian_token=CUSTODIAN_TOKEN,
                                    fhe_cache_dir=str(cache), fhe_simulate=True, fhe_max_quantity=255,
                                    data_dir=str(tmp_path / "operator-data"), fhe_shapes="4x4",
                                    verifier_urls=v_server.url, verifier_token=VERIFIER_TOKEN)
        app = create_operator_app(settings)
        o_server = stack.enter_context(ServerThread(app, port=o_port))
        yield custodian, o_server.url, app


def _kill9_custodian_run(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    crash = CRASH_POINTS[seed % len(CRASH_POINTS)]
    where = f"seed {seed} (crash {crash})"
    people = identities(4)
    with _world(tmp_path) as (custodian, url, app):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        for i, who in enumerate(people, start=1):
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": 10**12})
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        clients = [DarkPoolClient(url, who, custodian=custodian.url) for who in people]
        killer = None
        if crash == "random":  # somewhere in the round, mid-request or not
            killer = threading.Timer(rng.uniform(0.0, 3.0), custodian.kill)
            killer.start()
        placed: list[int] = []
        rid = None
        cleared = None
        try:
            rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP",
                                                  "reference_ticks": REFERENCE, "band_low_ticks": BAND_LOW,
                                                  "levels": LEVELS, "slot_count": 4})["round_id"]
            if crash == "after_open":
                custodian.kill()
            stop_after = rng.randrange(len(FHE_ORDERS))
            for k, (side, limit, qty) in enumerate(FHE_ORDERS):
                clients[k].fhe_order(rid, "ETH-PERP", side, limit, qty)
                placed.append(k)
                if crash == "after_mask" and k == stop_after:
                    custodian.kill()
                    break
            if crash in ("after_decrypt", "random"):
                cleared = admin.admin("POST", f"/rounds/{rid}/clear")
                if crash == "after_decrypt":
                    custodian.kill()
        except (DarkPoolError, httpx.HTTPError, OSError):
            pass  # the custodian died under this request
        if killer is not None:
            killer.join()
        if custodian.process is not None and custodian.process.poll() is None:
            custodian.kill()
        custodian.start()  # same directory, same port
        _after_custodian_restart(custodian, admin, clients, app, rid, placed, cleared, where)


def _after_custodian_restart(custodian: Custodian, admin: DarkPoolClient, clients: list[DarkPoolClient], app: Any,
                             rid: int | None, placed: list[int], cleared: dict[str, Any] | None, where: str) -> None:
    if rid is not None:
        phase = admin.admin("GET", f"/rounds/{rid}")["phase"]
        if phase == "commit":
            for k in range(len(FHE_ORDERS)):
                if k in placed:
                    continue
                side, limit, qty = FHE_ORDERS[k]
                with contextlib.suppress(DarkPoolError):  # e.g. its slot was taken before the crash
                    clients[k].fhe_order(rid, "ETH-PERP", side, limit, qty)
            try:
                cleared = admin.admin("POST", f"/rounds/{rid}/clear")
            except DarkPoolError as exc:
                # The crash spent the round (decrypted flag fsync'd, answer lost): it is aborted, never decrypted again.
                assert "decrypt" in str(exc).lower() or "spent" in str(exc).lower(), f"{where}: {exc}"
                admin.admin("POST", f"/rounds/{rid}/abandon", {"reason": "custodian crashed mid-decryption"})
        entries = [e for e in custodian.log() if e["round_id"] == str(rid)]
        assert len(entries) <= 1, f"{where}: round decrypted {len(entries)} times"
        if cleared is not None and admin.admin("GET", f"/rounds/{rid}")["phase"] == "cleared":
            assert len(entries) == 1 and entries[0]["outputs"]["volume_lots"] == 47, f"{where}: {entries}"
        if entries:
            with pytest.raises(DarkPoolError):  # cleared, or spent and abandoned: never decrypted again
                admin.admin("POST", f"/rounds/{rid}/clear")
            assert len([e for e in custodian.log() if e["round_id"] == str(rid)]) == 1, where
    # Rounds proceed: a fresh round clears once.
    fresh = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": REFERENCE,
                                            "band_low_ticks": BAND_LOW, "levels": LEVELS,
                                            "slot_count": 4})["round_id"]
    for k, (side, limit, qty) in enumerate(FHE_ORDERS[:2]):
        clients[k].fhe_order(fresh, "ETH-PERP", side, limit, qty)
    result = admin.admin("POST", f"/rounds/{fresh}/clear")["result"]
    assert result["volume_lots"] == 47, f"{where}: a fresh round after the restart does not clear"
    assert sum(1 for e in custodian.log() if e["round_id"] == str(fresh)) == 1


@pytest.mark.parametrize("seed", DEFAULT_SEEDS, ids=lambda s: f"seed_{s}")
def test_custodian_when_killed_9_then_no_round_decrypts_twice_and_rounds_proceed(seed: int, tmp_path: Path) -> None:
    _kill9_custodian_run(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed_{s}")
def test_custodian_when_killed_9_fifty_seeded_times_then_holds(seed: int, tmp_path: Path) -> None:
    _kill9_custodian_run(seed, tmp_path)
