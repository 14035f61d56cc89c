"""Attested FHE round benchmark: JSON lines ``{"metric", "value", "unit", ...}`` on stdout.

Both figures time the product's path, the operator's ``POST /rounds/{id}/clear`` over HTTP with
real encryption, on the same shape in the same run:

- ``fhe_round_seconds`` (baseline): operator evaluation + custodian decryption, a custodian
  configured with no verifier (``verifier_quorum = 0``);
- ``fhe_attested_round_seconds``: operator evaluation and one verifier's re-evaluation (the
  operator sends both at once) + the custodian's decryption of both and comparison.

Services run in this process on loopback, so the operator's and the verifier's evaluations share
this machine's cores; on separate machines the verifier's evaluation overlaps the operator's.
The default shape is 16 orders, 8 levels, 8-bit lots (n16-l8-q4); ``--quick`` runs 4 x 4.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.modules.pop("fhe", None)

import httpx  # noqa: E402

from darkpool.custodian import create_custodian_app  # noqa: E402
from darkpool.domain import Side  # noqa: E402
from darkpool.operator import create_operator_app  # noqa: E402
from darkpool.sdk import DarkPoolClient, Identity  # noqa: E402
from darkpool.verifier import create_verifier_app  # noqa: E402
from darkpool.web.serve import ServerThread, free_port  # noqa: E402
from darkpool.web.settings import CustodianSettings, OperatorSettings, VerifierSettings  # noqa: E402

VAULT = "0x" + "ab" * 20
TOKEN = "benchmark-token-0123456789"
REFERENCE = 300_000


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def _orders(slots: int, levels: int, max_lots: int) -> list[tuple[Side, int, int]]:
    band_low = REFERENCE - levels // 2
    out = []
    for i in range(slots):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        offset = (i * 7) % levels
        limit = band_low + (levels - 1 - offset if side is Side.BUY else offset)
        out.append((side, limit, 1 + (i * 37) % max_lots))
    return out


def clear_seconds(root: Path, slots: int, levels: int, max_lots: int, *, attested: bool) -> tuple[float, int]:
    """Start custodian (and verifier) and operator, fill one round, time its clear; return (s, volume).

    Circuits are compiled and keys generated when the services start, before the clock; both runs
    fetch the evaluation keys from the custodian inside it (operator and verifier alike), as the
    first round of a key set does in production.
    """
    shape = f"{slots}x{levels}x{max_lots}"
    cache = root / "cache"
    with ExitStack() as stack:
        c_port, o_port = free_port(), free_port()
        verifier_address, verifier_url = "", ""
        if attested:
            verifier_app = create_verifier_app(VerifierSettings(
                vault=VAULT, operator_token=TOKEN, custodian_url=f"http://127.0.0.1:{c_port}",
                key_dir=str(root / f"verifier-{attested}"), cache_dir=str(cache), shapes=shape))
            verifier_address = verifier_app.state.core.address
            verifier_url = stack.enter_context(ServerThread(verifier_app)).url
        custodian = stack.enter_context(ServerThread(create_custodian_app(CustodianSettings(
            vault=VAULT, operator_token=TOKEN, log=str(root / f"log-{attested}.jsonl"),
            key_dir=str(root / f"custodian-{attested}"), cache_dir=str(cache), shapes=shape,
            verifiers=verifier_address, verifier_quorum=1 if attested else 0,
            operator_url=f"http://127.0.0.1:{o_port}")), port=c_port))
        operator = stack.enter_context(ServerThread(create_operator_app(OperatorSettings(
            journal=str(root / f"journal-{attested}.db"), vault=VAULT, token=TOKEN, admin_token=TOKEN,
            mark_max_age_s=10**6, custodian_url=custodian.url, custodian_token=TOKEN, fhe_cache_dir=str(cache),
            fhe_max_quantity=max_lots, fhe_shapes=f"{slots}x{levels}", data_dir=str(root / f"data-{attested}"),
            secrets_dir=str(root / f"operator-{attested}"), verifier_urls=verifier_url,
            verifier_token=TOKEN if attested else None, rate_per_s=10**6, rate_burst=10**6)), port=o_port))
        admin = stack.enter_context(DarkPoolClient(operator.url, admin_token=TOKEN))
        people = [Identity.generate() for _ in range(slots)]
        for i, who in enumerate(people, start=1):
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": 10**15})
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": REFERENCE,
                                              "band_low_ticks": REFERENCE - levels // 2, "levels": levels,
                                              "slot_count": slots})["round_id"]
        for who, (side, limit, lots) in zip(people, _orders(slots, levels, max_lots), strict=True):
            with DarkPoolClient(operator.url, who, custodian=custodian.url) as client:
                client.fhe_order(rid, "ETH-PERP", side, limit, lots)
        start = time.perf_counter()
        cleared = admin.admin("POST", f"/rounds/{rid}/clear")
        seconds = time.perf_counter() - start
        if attested:
            assert httpx.get(f"{custodian.url}/log/refusals").json() == []
        return seconds, int(cleared["result"]["volume_lots"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 4-order, 4-level round")
    args = parser.parse_args()
    slots, levels, max_lots = (4, 4, 255) if args.quick else (16, 8, 255)
    shape = f"n{slots}-l{levels}-q4"
    with tempfile.TemporaryDirectory(prefix="darkpool-bench-attested-") as tmp:
        root = Path(tmp)
        plain, volume = clear_seconds(root, slots, levels, max_lots, attested=False)
        attested, attested_volume = clear_seconds(root, slots, levels, max_lots, attested=True)
    if attested_volume != volume:
        raise SystemExit(f"attested round traded {attested_volume} lots, unattested {volume}")
    emit("fhe_round_seconds", round(plain, 2), "s", shape=shape, path="operator clear, custodian decrypt")
    emit("fhe_attested_round_seconds", round(attested, 2), "s", shape=shape, baseline=round(plain, 2),
         ratio=round(attested / plain, 2), volume_lots=volume,
         path="operator clear + verifier re-evaluation (same machine) + custodian decrypts and compares both")


if __name__ == "__main__":
    main()
