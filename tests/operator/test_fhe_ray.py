"""FHE evaluation on a real Ray cluster (issue 14, deliverables 3 and 4).

A local Ray head with two worker CPUs and a bounded object store runs on loopback; the operator
(``fhe_backend = "ray"``) sends each round's evaluation there. Rounds of two instruments cleared
at the same time evaluate concurrently (the operator clears outside its lock); a worker killed
with SIGKILL mid-evaluation makes Ray run the task again and the round clears once; a cluster that
cannot be reached is a clear error that changes nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from tests.environment import ray_already_running
from tests.operator.fhe_helpers import BAND_LOW, REFERENCE, FheWorld, fhe_world, fund_institutions, open_fhe_round

pytestmark = [pytest.mark.fhe, pytest.mark.xdist_group("ray")]
OPTION_REFERENCE, OPTION_BAND_LOW = 15_000, 14_998


def test_cluster_when_unreachable_then_the_operator_refuses_to_start_with_a_clear_error(tmp_path: Path) -> None:
    from darkpool.errors import ServiceUnavailable
    from darkpool.operator.fhe_ray import RayFheBackend

    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():
        ray_already_running()
    with pytest.raises(ServiceUnavailable, match="cannot reach the Ray cluster"):
        RayFheBackend("http://127.0.0.1:9", "custodian-test-token", None, simulate=True,
                      operator_address="0x" + "11" * 20, ray_address="127.0.0.1:9")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _round(world: FheWorld, instrument: str, reference: int, band_low: int,
           orders: list[tuple[int, Side, int, int]]) -> int:
    rid = open_fhe_round(world, instrument, reference, band_low)
    for who, side, limit, lots in orders:
        world.client(world.people[who]).fhe_order(rid, instrument, side, limit, lots)
    return rid


def _clear_all(world: FheWorld, rids: list[int]) -> dict[int, Any]:
    """Clear the rounds from one thread each, at the same time."""
    results: dict[int, Any] = {}

    def clear(rid: int) -> None:
        try:
            results[rid] = world.admin().admin("POST", f"/rounds/{rid}/clear")
        except DarkPoolError as error:
            results[rid] = error

    threads = [threading.Thread(target=clear, args=(rid,)) for rid in rids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def test_rounds_of_two_instruments_when_cleared_together_then_both_evaluate_on_ray(
        tmp_path: Path, ray_cluster: None) -> None:
    with fhe_world(tmp_path, simulate=True, operator={"fhe_backend": "ray"}) as world:
        fund_institutions(world)
        perp = _round(world, "ETH-PERP", REFERENCE, BAND_LOW,
                      [(0, Side.BUY, 299_999, 47), (1, Side.SELL, 299_997, 53)])
        call = _round(world, "ETH-3000-C", OPTION_REFERENCE, OPTION_BAND_LOW,
                      [(2, Side.BUY, 15_000, 5), (3, Side.SELL, 14_999, 7)])
        results = _clear_all(world, [perp, call])
        assert results[perp]["result"]["volume_lots"] == 47, results[perp]
        assert results[call]["result"]["volume_lots"] == 5, results[call]
        log = httpx.get(f"{world.custodian_url}/log").json()
        assert sorted(int(e["round_id"]) for e in log) == sorted([perp, call])


def _pids(pattern: str) -> list[int]:
    """The Ray workers whose process title matches ``pattern`` (a worker is titled ``ray::<task>`` while it runs it)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def _clear_killing(world: FheWorld, rid: int, pattern: str, *, first: Callable[[], None] = lambda: None,
                   everyone: bool = True) -> tuple[dict[int, Any], list[int]]:
    """Clear round ``rid`` while a thread SIGKILLs the workers running a task that matches ``pattern`` (all of
    them, or one), once, after calling ``first``; return the clear's result and the killed pids."""
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not killed:
            if _pids(pattern):
                first()
                for pid in _pids(pattern)[: None if everyone else 1]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    results = _clear_all(world, [rid])
    killer.join(timeout=10)
    return results, killed


def test_worker_when_killed_mid_round_then_ray_retries_and_the_round_clears_once(
        tmp_path: Path, ray_cluster: None) -> None:
    # Real encryption, so the evaluation lasts long enough to be killed in the middle of it.
    with fhe_world(tmp_path, simulate=False, operator={"fhe_backend": "ray"}) as world:
        fund_institutions(world)
        rid = _round(world, "ETH-PERP", REFERENCE, BAND_LOW, [(0, Side.BUY, 299_999, 47), (1, Side.SELL, 299_997, 53)])
        refused: list[str] = []

        def try_an_order() -> None:
            try:  # the round is frozen while it evaluates: no new slot or order
                world.client(world.people[2]).fhe_order(rid, "ETH-PERP", Side.SELL, 299_999, 5)
            except DarkPoolError as error:
                refused.append(error.code)

        results, killed = _clear_killing(world, rid, "ray::evaluate_round", first=try_an_order)
        assert killed, "no Ray worker was evaluating"
        assert refused == ["wrong_phase"], refused
        assert results[rid]["result"]["volume_lots"] == 47, results[rid]
        assert [int(e["round_id"]) for e in httpx.get(f"{world.custodian_url}/log").json()] == [rid]


def test_split_round_when_cleared_on_ray_then_groups_and_combine_run_as_tasks_and_clear_as_unsplit(
        tmp_path: Path, ray_cluster: None) -> None:
    with fhe_world(tmp_path, simulate=True, groups=2, operator={"fhe_backend": "ray"}) as world:
        fund_institutions(world)
        rid = _round(world, "ETH-PERP", REFERENCE, BAND_LOW, [(0, Side.BUY, 299_999, 47), (1, Side.SELL, 299_997, 53)])
        backend = world.operator_app.state.core.fhe_backend
        results = _clear_all(world, [rid])
        assert results[rid]["result"]["volume_lots"] == 47, results[rid]
        assert [int(e["round_id"]) for e in httpx.get(f"{world.custodian_url}/log").json()] == [rid]
        (operator,) = backend._operators.values()  # the split operator the backend built
        assert operator.shape.slots == 4 and "-g2-" in str(operator._circuit.id)


def test_worker_when_killed_mid_split_round_then_ray_retries_its_task_and_the_round_clears_once(
        tmp_path: Path, ray_cluster: None) -> None:
    # Real encryption, so a group's evaluation lasts long enough to be killed in the middle of it.
    with fhe_world(tmp_path, simulate=False, groups=2, operator={"fhe_backend": "ray"}) as world:
        fund_institutions(world)
        rid = _round(world, "ETH-PERP", REFERENCE, BAND_LOW, [(0, Side.BUY, 299_999, 47), (1, Side.SELL, 299_997, 53)])
        results, killed = _clear_killing(world, rid, "ray::group_task|ray::combine_task", everyone=False)
        assert killed, "no Ray worker was evaluating a slot group or the combine"
        assert results[rid]["result"]["volume_lots"] == 47, results[rid]
        assert [int(e["round_id"]) for e in httpx.get(f"{world.custodian_url}/log").json()] == [rid]


@pytest.mark.parametrize("groups", [1, 2], ids=["unsplit", "split"])
def test_evaluation_when_ray_does_not_finish_in_time_then_a_journaled_failure_and_the_round_clears_later(
        tmp_path: Path, ray_cluster: None, groups: int) -> None:
    with fhe_world(tmp_path, simulate=True, groups=groups, operator={"fhe_backend": "ray"}) as world:
        fund_institutions(world)
        rid = _round(world, "ETH-PERP", REFERENCE, BAND_LOW, [(0, Side.BUY, 299_999, 47), (1, Side.SELL, 299_997, 53)])
        backend = world.operator_app.state.core.fhe_backend
        backend._timeout_s = 0.001  # a real Ray get that cannot finish in time (split operators take it when built)
        with pytest.raises(DarkPoolError) as failed:
            world.admin().admin("POST", f"/rounds/{rid}/clear")
        assert failed.value.code == "service_unavailable"
        journal = world.admin().admin("GET", "/audit/journal?limit=10000")
        assert [e["kind"] for e in journal if e["kind"] == "fhe_failed"] == ["fhe_failed"]
        assert httpx.get(f"{world.custodian_url}/log").json() == []  # nothing decrypted
        assert world.admin().round(rid)["phase"] == "commit"
        backend._timeout_s = 600.0
        backend._operators.clear()  # a split operator keeps the timeout it was built with
        assert world.admin().admin("POST", f"/rounds/{rid}/clear")["result"]["volume_lots"] == 47
        assert [int(e["round_id"]) for e in httpx.get(f"{world.custodian_url}/log").json()] == [rid]
