"""Kill the operator process mid-round with SIGKILL and restart it on the same journal."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from darkpool.domain import Side
from darkpool.errors import PhaseError
from darkpool.sdk import CommitTicket, DarkPoolClient
from tests.operator.helpers import ADMIN, identities
from tests.reliability.processes import operator_process


def _sleep_until(when: int) -> None:
    time.sleep(max(0.0, when - time.time() + 0.05))


def test_operator_when_killed_mid_round_loses_no_ack_and_fills_once(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    people = identities(3)
    acked: list[tuple[int, str]] = []
    tickets: list[tuple[int, CommitTicket]] = []
    with operator_process(journal) as (process, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        for i, who in enumerate(people, start=1):
            ack = admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address,
                                                          "amount": 10**12})
            acked.append((ack["seq"], ack["head"]))
        acked_mark = admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        acked.append((acked_mark["seq"], acked_mark["head"]))
        rid = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                              "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                              "levels": 8, "commit_s": 5, "reveal_s": 20})["round_id"]
        clients = [DarkPoolClient(url, who) for who in people]
        stop = threading.Event()

        def flood(k: int) -> None:
            side = Side.BUY if k == 0 else Side.SELL
            while not stop.is_set():
                try:
                    ticket = clients[k].commit_order(rid, "ETH-PERP", side, 300_000, 1)
                except (httpx.HTTPError, OSError):
                    return
                tickets.append((k, ticket))

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        while len(tickets) < 30:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
    assert len(tickets) >= 30
    with operator_process(journal) as (process, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        entries = admin.admin("GET", "/audit/journal?limit=10000")
        heads = {e["seq"]: e["head"] for e in entries}
        for seq, head in acked:
            assert heads[seq] == head
        committed = [n for e in entries if e["kind"] == "commits" for n in json.loads(e["payload"])["commits"]["nonce"]]
        assert admin.admin("GET", f"/rounds/{rid}")["commitments"] == len(committed) >= len(tickets)
        schedule = admin.admin("GET", f"/rounds/{rid}")
        _sleep_until(schedule["commit_closes_at"])
        admin.admin("POST", f"/rounds/{rid}/seal")
        clients = [DarkPoolClient(url, who) for who in people]
        for k, ticket in tickets:
            clients[k].reveal(ticket)
        if admin.admin("GET", f"/rounds/{rid}")["reveals"] < schedule["commitments"]:
            _sleep_until(schedule["reveal_closes_at"])  # commitments whose ack was lost are never revealed
        cleared = admin.admin("POST", f"/rounds/{rid}/clear")
        volume = cleared["result"]["volume_lots"]
        assert volume > 0
        fills_before = [c.fills() for c in clients]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    with operator_process(journal) as (_, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        clients = [DarkPoolClient(url, who) for who in people]
        assert [c.fills() for c in clients] == fills_before
        assert sum(f["quantity_lots"] for f in fills_before[0]) == volume
        with pytest.raises(PhaseError):
            admin.admin("POST", f"/rounds/{rid}/clear")
        assert [c.fills() for c in clients] == fills_before
