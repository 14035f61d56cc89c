"""FHE rounds on Ray: JSON lines ``{"metric", "value", "unit", ...}`` on stdout.

``fhe_ray_instruments_speedup``: K instruments' rounds (real encryption) cleared through the
operator's ``POST /rounds/{id}/clear`` with ``fhe_backend = "ray"`` (a local Ray of this machine's
cores), one after another (the baseline) and then all at once, in the same run on the same
services. The operator clears outside its lock and Ray runs the evaluations on separate workers, so
the speedup is bounded by the cores: about 2 here (2 cores), more on a real cluster.
``--quick``: 4-order, 4-level rounds (the default is 8 orders, 8 levels).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.modules.pop("fhe", None)

from darkpool.custodian import create_custodian_app  # noqa: E402
from darkpool.domain import Side  # noqa: E402
from darkpool.operator import create_operator_app  # noqa: E402
from darkpool.sdk import DarkPoolClient, Identity  # noqa: E402
from darkpool.web.serve import ServerThread  # noqa: E402
from darkpool.web.settings import CustodianSettings, OperatorSettings  # noqa: E402

VAULT = "0x" + "ab" * 20
TOKEN = "benchmark-token-0123456789"
INSTRUMENTS = {"ETH-PERP": 300_000, "ETH-3000-C": 15_000}
"""Instrument → reference price (ticks)."""


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def _open_rounds(admin: DarkPoolClient, operator_url: str, custodian_url: str, people: list[Identity],
                 slots: int, levels: int) -> list[int]:
    rids = []
    for instrument, reference in INSTRUMENTS.items():
        band_low = reference - levels // 2
        rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": instrument, "reference_ticks": reference,
                                              "band_low_ticks": band_low, "levels": levels,
                                              "slot_count": slots})["round_id"]
        for i, who in enumerate(people[:slots]):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            # Buys at the band's bottom, sells at its top: nothing crosses, so each round is cleared at
            # once (no side openings to wait for); an evaluation costs the same whatever the orders.
            limit = band_low + (0 if side is Side.BUY else levels - 1)
            with DarkPoolClient(operator_url, who, custodian=custodian_url) as client:
                client.fhe_order(rid, instrument, side, limit, 1 + i)
        rids.append(int(rid))
    return rids


def _clear(admin_url: str, rids: list[int], together: bool) -> float:
    def clear(rid: int) -> None:
        with DarkPoolClient(admin_url, admin_token=TOKEN) as admin:
            admin.admin("POST", f"/rounds/{rid}/clear")

    start = time.perf_counter()
    if together:
        threads = [threading.Thread(target=clear, args=(rid,)) for rid in rids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for rid in rids:
            clear(rid)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4-order, 4-level rounds")
    args = parser.parse_args()
    slots, levels = (4, 4) if args.quick else (8, 8)
    import ray

    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="darkpool-bench-ray-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        shape = f"{slots}x{levels}x255"
        custodian = stack.enter_context(ServerThread(create_custodian_app(CustodianSettings(
            vault=VAULT, operator_token=TOKEN, log=str(root / "log.jsonl"), key_dir=str(root / "custodian"),
            cache_dir=str(root / "cache"), shapes=shape, verifier_quorum=0))))
        operator = stack.enter_context(ServerThread(create_operator_app(OperatorSettings(
            journal=str(root / "journal.db"), vault=VAULT, token=TOKEN, admin_token=TOKEN, mark_max_age_s=10**6,
            custodian_url=custodian.url, custodian_token=TOKEN, fhe_cache_dir=str(root / "cache"),
            fhe_shapes=f"{slots}x{levels}", data_dir=str(root / "data"), secrets_dir=str(root / "operator"),
            fhe_backend="ray", rate_per_s=10**6, rate_burst=10**6))))
        admin = stack.enter_context(DarkPoolClient(operator.url, admin_token=TOKEN))
        people = [Identity.generate() for _ in range(slots)]
        for i, who in enumerate(people, start=1):
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": 10**15})
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        # A first pair of rounds warms every worker (circuit loaded, evaluation keys deserialized).
        _clear(operator.url, _open_rounds(admin, operator.url, custodian.url, people, slots, levels), True)
        one_by_one = _clear(operator.url, _open_rounds(admin, operator.url, custodian.url, people, slots, levels),
                            False)
        together = _clear(operator.url, _open_rounds(admin, operator.url, custodian.url, people, slots, levels), True)
    ray.shutdown()
    emit("fhe_ray_instruments_speedup", round(one_by_one / together, 2), "x", instruments=len(INSTRUMENTS),
         shape=f"n{slots}-l{levels}", sequential_s=round(one_by_one, 2), concurrent_s=round(together, 2),
         cores=os.cpu_count(), baseline="the same rounds cleared one after another through Ray")


if __name__ == "__main__":
    main()
