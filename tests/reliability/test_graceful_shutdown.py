"""SIGTERM drains a real operator process under load (issue 16, deliverable 8: graceful shutdown).

It stops accepting connections, finishes the requests in flight (their acknowledgements still wait
for the journal), writes the journal and exits 0; after a restart every acknowledged request is
there exactly once.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from pathlib import Path

import httpx

from darkpool.domain import Side
from darkpool.sdk import DarkPoolClient
from tests.operator.helpers import ADMIN, identities
from tests.reliability.processes import committed, journal_entries, operator_process

SIGNAL_AFTER_ACKS = 40


def _half_sent_deposit(url: str, who: str) -> tuple[socket.socket, bytes]:
    """Open a connection and send a deposit credit's headers and half its body; return the rest."""
    body = json.dumps({"deposit_id": 4, "account": who, "amount": 10**12}).encode()
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    head = (f"POST /admin/deposits HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    conn.sendall(head + body[:10])
    return conn, body[10:]


def _refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError:
        return True
    return False


def _response(conn: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before the response was complete: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_operator_when_sigterm_under_load_then_drains_in_flight_exits_0_and_loses_no_ack(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    people = identities(4)
    acked: dict[int, str] = {}
    tickets: list[tuple[str, int]] = []
    with operator_process(journal) as (process, url):
        admin = DarkPoolClient(url, admin_token=ADMIN)
        for i, who in enumerate(people[:3], start=1):
            ack = admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": 10**12})
            acked[ack["seq"]] = ack["head"]
        ack = admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        acked[ack["seq"]] = ack["head"]
        rid = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                              "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                              "levels": 8, "commit_s": 3600})["round_id"]
        in_flight, rest = _half_sent_deposit(url, people[3].address)
        stop = threading.Event()
        enough = threading.Event()
        lock = threading.Lock()

        def flood(k: int) -> None:
            client = DarkPoolClient(url, people[k])
            side = Side.BUY if k == 0 else Side.SELL
            while not stop.is_set():
                try:
                    ticket = client.commit_order(rid, "ETH-PERP", side, 300_000, 1)
                except (httpx.HTTPError, OSError):
                    return  # the operator is stopping: nothing unacknowledged counts
                with lock:
                    tickets.append((people[k].address.lower(), ticket.nonce))
                    if len(tickets) >= SIGNAL_AFTER_ACKS:
                        enough.set()

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        enough.wait(120)
        process.send_signal(signal.SIGTERM)
        while not _refuses_connections(url):  # it stops accepting first ...
            pass
        in_flight.sendall(rest)  # ... and still finishes the request it was reading
        status, body = _response(in_flight)
        in_flight.close()
        assert status == 200 and body["credited"] is True, body
        acked[int(body["seq"])] = str(body["head"])  # type: ignore[call-overload]
        assert process.wait(60) == 0
        stop.set()
        for t in threads:
            t.join(30)
    assert len(tickets) >= SIGNAL_AFTER_ACKS
    with operator_process(journal) as (process, url):
        entries = journal_entries(url)
        heads = {e["seq"]: e["head"] for e in entries}
        assert all(heads.get(seq) == head for seq, head in acked.items())
        journaled = committed(entries)
        assert len(journaled) == len(set(journaled))  # nothing twice
        assert set(tickets) <= {(a.lower(), n) for a, n in journaled}  # nothing acknowledged lost
        round_view = DarkPoolClient(url, admin_token=ADMIN).admin("GET", f"/rounds/{rid}")
        assert round_view["commitments"] == len(journaled)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
