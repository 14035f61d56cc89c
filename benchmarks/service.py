"""Operator service throughput: signed orders accepted over loopback HTTP, journaled, with latency.

Prints JSON lines. ``service_orders_per_s``: EIP-712 signed commitments posted to a running
operator started as users start it (``python -m darkpool.web operator``: uvicorn with uvloop and
httptools, SQLite WAL journal with ``synchronous=FULL``, group commit, and the operator's signature
recovery child process) over real loopback sockets by a keep-alive HTTP/1.1 load generator in this
process (pre-encoded bodies on raw asyncio sockets); every order is acknowledged only once durable.
The baseline is a bare FastAPI endpoint served the same way and loaded by the same generator in the
same run. Bar: >= 2,500 orders/s on the 2-core machine; aim >= 0.6 of bare FastAPI.

``service_orders_per_s_batched``: the same signed commitments sent ``--batch`` per request to
``POST /rounds/{id}/commitments/batch`` (what an institution quoting many orders sends; each order
is still checked alone and acknowledged only once durable), on a fresh operator in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit

ADMIN = "bench-admin-token-not-secret"
VAULT = "0x" + "5e" * 20
TOKEN = "0x" + "70" * 20


def serve_bare(port: int) -> None:
    """Serve a FastAPI app with one JSON endpoint that does nothing (the baseline)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/bare")
    async def bare(body: dict[str, Any]) -> dict[str, int]:
        return {"seq": 0}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    import httpx

    process = subprocess.Popen(cmd, env=env, cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


async def _worker(port: int, bodies: list[bytes], path: str, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for body in bodies:
        request = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                   f"content-length: {len(body)}\r\n\r\n").encode() + body
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        status = int(head.split(b" ", 2)[1])
        if status >= 300:
            errors.append(payload.decode()[:200])
    writer.close()


def load(port: int, path: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], list[str]]:
    """Send ``bodies`` over ``concurrency`` keep-alive connections; return (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_worker(port, c, path, latencies, errors) for c in chunks))
        return time.perf_counter() - start

    return asyncio.run(main()), latencies, errors


def batched(bodies: list[bytes], size: int) -> list[bytes]:
    """Group signed commitments (JSON bodies) into batch request bodies of ``size``."""
    return [b'{"commitments":[' + b",".join(bodies[i:i + size]) + b"]}" for i in range(0, len(bodies), size)]


def signed_orders(n: int, accounts: int, offset: int = 0) -> list[bytes]:
    """Pre-sign ``n`` commitments of round 1 from ``accounts`` keys (signing is the client's cost)."""
    from darkpool.sdk import Identity
    from darkpool.signing import Commitment, SigningDomain, signed_to_wire

    domain = SigningDomain(31337, VAULT)
    people = [Identity.from_key(bytes([i + 1]) * 32) for i in range(accounts)]
    expiry = int(time.time()) + 3600
    out = []
    for i in range(offset, offset + n):
        who = people[i % accounts]
        message = Commitment(account=who.address, instrument="ETH-PERP", round_id=1,
                             commitment=i.to_bytes(32, "big"), bond=0, nonce=i, expiry=expiry)
        out.append(json.dumps(signed_to_wire(who.sign(message, domain))).encode())
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(metric: str, seconds: float, latencies: list[float], errors: list[str], **extra: object) -> float:
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    rate = len(latencies) / seconds
    emit(metric, round(rate, 1), "requests/s", p50_ms=round(percentile(latencies, 0.5) * 1e3, 3),
         p99_ms=round(percentile(latencies, 0.99) * 1e3, 3), requests=len(latencies), **extra)
    return rate


def run_operator(env: dict[str, str], path: str, bodies: list[bytes], signer_bodies: list[bytes], concurrency: int,
                 metric: str, **extra: object) -> float:
    """Start ``darkpool serve`` on a fresh journal, fund the signers, open round 1, load ``path``; return the rate."""
    import httpx

    from darkpool.web.serve import free_port

    env = dict(env)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env.update({"DARKPOOL_JOURNAL": str(Path(tmp) / "journal.db"), "DARKPOOL_ADMIN_TOKEN": ADMIN,
                    "DARKPOOL_SECRETS_DIR": str(Path(tmp) / "secrets"),
                    "DARKPOOL_VAULT": VAULT, "DARKPOOL_TOKEN": TOKEN, "DARKPOOL_PORT": str(port),
                    "DARKPOOL_RATE_PER_S": "1e9", "DARKPOOL_RATE_BURST": "1e9"})
        operator = _start([sys.executable, "-m", "darkpool.web", "operator"], env, port)
        try:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            signers = list(dict.fromkeys(json.loads(b)["message"]["account"] for b in signer_bodies))
            for i, who in enumerate(signers, start=1):  # commitments must be backed by collateral
                httpx.post(f"http://127.0.0.1:{port}/admin/deposits", headers=admin,
                           json={"deposit_id": i, "account": who, "amount": 10**12}).raise_for_status()
            httpx.post(f"http://127.0.0.1:{port}/rounds", headers=admin,
                       json={"mode": "commit_reveal", "instrument": "ETH-PERP", "reference_ticks": 300_000,
                             "band_low_ticks": 299_996, "levels": 8, "commit_s": 3600}).raise_for_status()
            seconds, latencies, errors = load(port, path, bodies, concurrency)
            rate = report(metric, seconds, latencies, errors, concurrency=concurrency,
                          journal="sqlite-wal-synchronous-full", signed="eip712", **extra)
            health = httpx.get(f"http://127.0.0.1:{port}/health").json()
            expected = len(bodies) + len(signers) + 1
            if health["journal_seq"] != expected:
                raise RuntimeError(f"journal holds {health['journal_seq']} entries, expected {expected}")
            if path.endswith("/batch"):
                summary = httpx.get(f"http://127.0.0.1:{port}/rounds/1", headers=admin).json()
                if summary["commitments"] != sum(b.count(b'"signature"') for b in bodies):
                    raise RuntimeError(f"round holds {summary['commitments']} commitments, not every order sent")
        finally:
            operator.kill()
            operator.wait()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100, help="orders per batch request")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    from darkpool.web.serve import free_port

    bodies = signed_orders(args.orders, args.accounts)
    env = dict(os.environ)
    port = free_port()
    bare = _start([sys.executable, __file__, "--serve-bare", str(port)], env, port)
    try:
        load(port, "/bare", bodies[:500], args.concurrency)  # warm up
        seconds, latencies, errors = load(port, "/bare", bodies, args.concurrency)
        bare_rate = report("bare_fastapi_requests_per_s", seconds, latencies, errors,
                           concurrency=args.concurrency)
    finally:
        bare.kill()
        bare.wait()
    rate = run_operator(env, "/rounds/1/commitments", bodies, bodies, args.concurrency, "service_orders_per_s")
    batches = batched(signed_orders(args.orders * 4, args.accounts, offset=args.orders), args.batch)
    batch_rate = run_operator(env, "/rounds/1/commitments/batch", batches, bodies, max(1, args.concurrency // 16),
                              "service_batches_per_s", orders_per_request=args.batch)
    emit("service_orders_per_s_batched", round(batch_rate * args.batch, 1), "orders/s", batch=args.batch,
         bar=2500, note="signed commitments, each checked alone, one journal entry and one fsync'd group "
                        "commit per batch, acknowledged once durable")
    emit("service_vs_bare_fastapi", round(rate / bare_rate, 3), "ratio", bar_orders_per_s=2500, aim=0.6)
    emit("service_batched_vs_bare_fastapi", round(batch_rate * args.batch / bare_rate, 3), "ratio", aim=0.6,
         note="orders/s through the batch endpoint over bare FastAPI requests/s, same run")


if __name__ == "__main__":
    main()
