"""Kill -9 of the operator, seeded: after each kind of side effect and at random moments under load.

Each run deploys a fresh vault on one anvil node (the chain outlives the operator), starts the real
operator (``tests.reliability.crashing_operator``: ``darkpool serve`` whose settler may SIGKILL the
process right after a chain transaction is mined, before the outcome is journaled), drives a
commit-reveal round and a batch, kills it at the run's crash point, restarts it on the same journal
and checks: every acknowledged commitment is journaled exactly once, the round seals (a root
already on chain is recognized, not re-sent), clears once, its fills are booked once, and batches
settle with consecutive ids. The crash point comes from the seed, printed on failure: replay a run
with ``-k 'seed_<n>'``. A few seeds run by default; ``slow`` runs 100.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.domain import Side
from darkpool.sdk import CommitTicket, DarkPoolClient
from darkpool.settlement import RpcChain, Vault, start_anvil
from darkpool.settlement.deploy import deploy, fund_institution
from tests.operator.helpers import ADMIN, identities
from tests.reliability.processes import committed, journal_entries, operator_process

pytestmark = [pytest.mark.chain, pytest.mark.xdist_group("kill9")]

CRASH_POINTS = ("seal_round", "settle", "random")
DEFAULT_SEEDS = (0, 1, 2)
SLOW_SEEDS = tuple(range(3, 100))


@pytest.fixture(scope="module")
def anvil() -> Iterator[RpcChain]:
    with start_anvil() as chain:
        yield chain


def _operator(journal: Path, chain: RpcChain, deployment: Any, clock_file: Path,
              crash_after: str = "") -> Any:
    """The real operator on ``journal``, settling on ``chain``, clock offset by ``clock_file``, crashing after
    ``crash_after`` (a settler method) if given."""
    return operator_process(journal, ("tests.reliability.crashing_operator",), DARKPOOL_RPC_URL=chain.url,
                            DARKPOOL_VAULT=deployment.vault, DARKPOOL_TOKEN=deployment.token,
                            DARKPOOL_OPERATOR_ADDRESS=deployment.operator, DARKPOOL_CHAIN_ID=str(deployment.chain_id),
                            DARKPOOL_CLOCK_OFFSET_FILE=str(clock_file), DARKPOOL_CRASH_AFTER=crash_after)


def _advance(clock_file: Path, until: int) -> None:
    """Move the operator's clock past POSIX second ``until`` (its offset survives restarts)."""
    offset = int(clock_file.read_text() or 0)
    clock_file.write_text(str(max(offset, until - int(time.time()) + 1)))


def _kill9_run(seed: int, chain: RpcChain, tmp_path: Path) -> None:
    rng = random.Random(seed)
    crash = CRASH_POINTS[seed % len(CRASH_POINTS)]
    where = f"seed {seed} (crash {crash})"
    deployment = deploy(chain, grace_period_s=7 * 24 * 3600)
    people = identities(2)
    fund_institution(chain, deployment, [p.address for p in people], 10**12)
    vault = Vault(chain, deployment.vault)
    for who in people:
        vault.deposit(who, 10**11, approve=True)
    journal, clock_file = tmp_path / "journal.db", tmp_path / "clock"
    clock_file.write_text("0")
    tickets: list[tuple[int, CommitTicket]] = []
    with _operator(journal, chain, deployment, clock_file, "" if crash == "random" else crash) as (process, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        assert admin.admin("POST", "/admin/deposits/sync")["credited"] == 2, where
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        round_ = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                 "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                 "levels": 8, "commit_s": 20, "reveal_s": 20})
        rid = round_["round_id"]
        clients = [DarkPoolClient(url, who) for who in people]
        stop = threading.Event()

        def flood(k: int) -> None:
            side = Side.BUY if k == 0 else Side.SELL
            while not stop.is_set():
                try:
                    tickets.append((k, clients[k].commit_order(rid, "ETH-PERP", side, 300_000, 1 + k)))
                except (httpx.HTTPError, OSError):
                    return

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.1, 1.0))
        if crash == "random":
            process.kill()
        stop.set()
        for t in threads:
            t.join(30)
        if crash != "random":
            summary = admin.admin("GET", f"/rounds/{rid}")
            _advance(clock_file, summary["commit_closes_at"])
            with pytest.raises((httpx.HTTPError, OSError)):  # the process dies once the seal is mined
                admin.admin("POST", f"/rounds/{rid}/seal") if crash == "seal_round" else _finish(
                    admin, clients, tickets, rid, clock_file)
        process.wait(30)
    assert process.returncode != 0, where
    _after_restart(journal, chain, deployment, clock_file, people, tickets, rid, crash, where)


def _finish(admin: DarkPoolClient, clients: list[DarkPoolClient], tickets: list[tuple[int, CommitTicket]], rid: int,
            clock_file: Path) -> None:
    """Seal, reveal every acknowledged order, clear, then settle a batch (the crash point)."""
    admin.admin("POST", f"/rounds/{rid}/seal")
    for k, ticket in tickets:
        clients[k].reveal(ticket)
    admin.admin("POST", f"/rounds/{rid}/clear")
    admin.admin("POST", "/batches")


def _after_restart(journal: Path, chain: RpcChain, deployment: Any, clock_file: Path, people: list[Any],
                   tickets: list[tuple[int, CommitTicket]], rid: int, crash: str, where: str) -> None:
    vault = Vault(chain, deployment.vault)
    with _operator(journal, chain, deployment, clock_file) as (_, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        clients = [DarkPoolClient(url, who) for who in people]
        entries = journal_entries(url)
        journaled = committed(entries)
        assert len(journaled) == len(set(journaled)), f"{where}: a commitment journaled twice"
        acked = {(people[k].address.lower(), t.nonce) for k, t in tickets}
        assert acked <= {(a.lower(), n) for a, n in journaled}, f"{where}: an acknowledged commitment was lost"
        summary = admin.admin("GET", f"/rounds/{rid}")
        if not summary["root_on_chain"]:
            if summary["phase"] == "commit":
                _advance(clock_file, summary["commit_closes_at"])
            admin.admin("POST", f"/rounds/{rid}/seal")  # a root already on chain is recorded, not re-sent
        assert vault.commitments_root(rid) != "0x" + "00" * 32, f"{where}: the root is not on chain"
        summary = admin.admin("GET", f"/rounds/{rid}")
        if summary["phase"] != "cleared":
            revealed = 0
            for k, ticket in tickets:
                try:
                    clients[k].reveal(ticket)
                    revealed += 1
                except Exception as exc:
                    assert "reveal" in str(exc).lower() or "already" in str(exc).lower(), f"{where}: {exc}"
            summary = admin.admin("GET", f"/rounds/{rid}")
            if summary["reveals"] < summary["commitments"]:
                _advance(clock_file, summary["reveal_closes_at"])
            admin.admin("POST", f"/rounds/{rid}/clear")
        volume = admin.admin("GET", f"/rounds/{rid}")["result"]["volume_lots"]
        bought = sum(f["quantity_lots"] for f in clients[0].fills())
        sold = sum(f["quantity_lots"] for f in clients[1].fills())
        assert bought == sold == volume, f"{where}: fills {bought}/{sold} for a volume of {volume}"
        before = vault.last_batch_id()
        batch = admin.admin("POST", "/batches")["batch_id"]
        assert batch == vault.last_batch_id() and batch in (before, before + 1), f"{where}: batch ids"
        assert crash != "settle" or before >= 1, f"{where}: the batch mined before the crash was lost"
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3001.0})
        assert admin.admin("POST", "/batches")["batch_id"] == batch + 1, f"{where}: settlement does not proceed"


@pytest.mark.parametrize("seed", DEFAULT_SEEDS, ids=lambda s: f"seed_{s}")
def test_operator_when_killed_9_then_restart_loses_no_ack_and_books_once(seed: int, anvil: RpcChain,
                                                                         tmp_path: Path) -> None:
    _kill9_run(seed, anvil, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed_{s}")
def test_operator_when_killed_9_a_hundred_seeded_times_then_restart_holds(seed: int, anvil: RpcChain,
                                                                         tmp_path: Path) -> None:
    _kill9_run(seed, anvil, tmp_path)
