"""Opening an FHE round while the custodian prepares it: the operator keeps serving (issue 16, reliability).

The custodian may take seconds (or minutes, for a new shape's compile and keys) to open a round. The
operator reserves the round's id and instrument under its lock, then waits for the custodian with
the lock released: other requests are served meanwhile, a second round of the instrument is refused,
and nothing is journaled until the custodian answers. A custodian that fails leaves no trace in the
journal; when a later round took the next id meanwhile, the failed id is spent at the custodian.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from darkpool.sdk import DarkPoolClient
from tests.operator.fhe_helpers import (
    ADMIN,
    BAND_LOW,
    LEVELS,
    REFERENCE,
    FheWorld,
    Hold,
    fhe_world,
    fund_institutions,
)

pytestmark = pytest.mark.fhe

OPEN = {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": REFERENCE, "band_low_ticks": BAND_LOW,
        "levels": LEVELS, "slot_count": 4}


@contextmanager
def held_open(world: FheWorld, *, fail: bool = False) -> Iterator[dict[str, Any]]:
    """Open the FHE round of ``OPEN`` from a thread while the custodian's ``POST /rounds`` is held; yield the
    outcome (filled in once the custodian is let go at the end of the block)."""
    hold = world.custodian_received.holds["POST /rounds"] = Hold(fail=fail)
    outcome: dict[str, Any] = {}

    def open_round() -> None:
        try:
            outcome["ack"] = world.admin().admin("POST", "/rounds", OPEN)
        except DarkPoolError as error:
            outcome["error"] = error

    opener = threading.Thread(target=open_round)
    opener.start()
    try:
        assert hold.reached.wait(30), "the open never reached the custodian"
        yield outcome
    finally:
        hold.released.set()
        opener.join(60)
        del world.custodian_received.holds["POST /rounds"]


def _quick(world: FheWorld) -> DarkPoolClient:
    """An admin client that gives up after 20 s: a request blocked behind the held open fails, never hangs."""
    return DarkPoolClient(world.operator_url, admin_token=ADMIN, timeout=20)


def _kinds(world: FheWorld) -> list[str]:
    return [e["kind"] for e in world.admin().admin("GET", "/audit/journal?limit=10000")]


def test_open_when_the_custodian_is_slow_then_the_operator_serves_others_and_refuses_a_second_round(
        tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        with _quick(world) as admin, held_open(world) as outcome, httpx.Client(
                base_url=world.operator_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10) as fast:
            # Served while the custodian holds the open (the lock is free): a deposit and a read.
            assert fast.post("/admin/deposits", json={"deposit_id": 5, "account": world.people[0].address,
                                                       "amount": 10**9}).status_code in (200, 201, 202)
            assert fast.get("/rounds").status_code == 200
            # The instrument's round is reserved: a second is refused, another instrument's takes the next id.
            second = fast.post("/rounds", json=OPEN)
            assert second.status_code == 409 and "round 1 of ETH-PERP" in second.text, second.text
            other = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-C",
                                                    "reference_ticks": 15_000, "band_low_ticks": 14_998, "levels": 4})
            assert other["round_id"] == 2
            assert admin.round(2)["mode"] == "commit_reveal"
            with pytest.raises(DarkPoolError) as missing:
                admin.round(1)  # nothing of round 1 until the custodian answers
            assert missing.value.code == "not_found"
        assert outcome["ack"]["round_id"] == 1, outcome
        assert world.admin().round(1)["phase"] == "commit"
        ticket = world.client(world.people[0]).fhe_order(1, "ETH-PERP", Side.BUY, 299_999, 47)
        assert ticket is not None


def test_open_when_the_custodian_fails_then_nothing_is_journaled_and_the_same_id_opens_next(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        before = _kinds(world)
        with held_open(world, fail=True) as outcome:
            pass
        assert outcome["error"].code == "service_unavailable", outcome
        assert _kinds(world) == before  # nothing journaled
        assert world.admin().admin("POST", "/rounds", OPEN)["round_id"] == 1  # the reservation is gone
        assert not any(b"/abort" in r for r in world.custodian_received.received)


def test_open_when_the_custodian_fails_after_a_later_round_took_the_next_id_then_the_failed_id_is_spent(
        tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        with _quick(world) as admin, held_open(world, fail=True) as outcome:
            other = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-C",
                                                    "reference_ticks": 15_000, "band_low_ticks": 14_998, "levels": 4})
            assert other["round_id"] == 2
        assert outcome["error"].code == "service_unavailable", outcome
        # Round 1 is never journaled nor retried: the operator told the custodian to spend it.
        assert any(r.startswith(b"/rounds/1/abort") for r in world.custodian_received.received)
        assert world.admin().admin("POST", "/rounds", OPEN)["round_id"] == 3


@pytest.mark.attack
def test_open_when_a_crash_left_the_id_open_at_the_custodian_with_another_shape_then_the_next_id_opens(
        tmp_path: Path) -> None:
    """An operator that died after the custodian opened its round, and now opens another shape, is not stuck:
    the custodian refuses the id (``round_id_taken``), the operator spends it there and opens the next one."""
    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        custodian = world.custodian_received.app.state.core
        operator = world.operator_app.state.core.operator_address
        custodian.open_round("1", 4, 2, 255, operator)  # what the crashed operator had asked for: 2 levels
        with pytest.raises(DarkPoolError) as taken:
            custodian.open_round("1", 4, LEVELS, 255, operator)
        assert taken.value.code == "round_id_taken"
        assert world.admin().admin("POST", "/rounds", OPEN)["round_id"] == 2
        assert custodian._rounds["1"].aborted  # spent: its epoch can retire
        assert world.admin().round(2)["phase"] == "commit"
        with pytest.raises(DarkPoolError) as missing:
            world.admin().round(1)
        assert missing.value.code == "not_found"
        ticket = world.client(world.people[0]).fhe_order(2, "ETH-PERP", Side.BUY, 299_999, 47)
        assert ticket is not None


@pytest.mark.attack
def test_restart_when_a_crash_left_a_round_only_at_the_custodian_then_it_is_spent_and_journaled_rounds_kept(
        tmp_path: Path) -> None:
    """The custodian opened round 5 and the operator died before journaling it, after a later round took ids
    past it: nothing would ever ask for 5 again, and the custodian would keep its epoch's secret key. The
    restarted operator's start-up check (retried while the custodian fails) spends it there."""
    import asyncio

    from darkpool.operator.api.app import _spend_orphans

    with fhe_world(tmp_path, simulate=True) as world:
        fund_institutions(world)
        core = world.operator_app.state.core
        custodian = world.custodian_received.app.state.core
        assert world.admin().admin("POST", "/rounds", OPEN)["round_id"] == 1  # journaled, still open
        core.fhe_backend.open_round(5, 4, LEVELS)  # the open the crash cut short: at the custodian only
        assert custodian.open_rounds(core.operator_address) == ["1", "5"]
        hold = world.custodian_received.holds["GET /rounds"] = Hold(fail=True)
        checker = threading.Thread(target=lambda: asyncio.run(_spend_orphans(core, retry_s=0.01)))
        checker.start()
        assert hold.reached.wait(30)
        del world.custodian_received.holds["GET /rounds"]
        hold.released.set()  # the first check fails (503); the retry finds round 5
        checker.join(30)
        assert not checker.is_alive()
        assert custodian._rounds["5"].aborted and not custodian._rounds["1"].aborted
        assert custodian.open_rounds(core.operator_address) == ["1"]
        assert world.admin().admin("POST", "/admin/custodian/orphans") == {"spent": []}
        ticket = world.client(world.people[0]).fhe_order(1, "ETH-PERP", Side.BUY, 299_999, 47)
        assert ticket is not None  # the journaled round still takes orders


@pytest.mark.attack
def test_orphans_when_asked_by_the_admin_then_only_rounds_the_journal_does_not_know_are_spent(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        core = world.operator_app.state.core
        custodian = world.custodian_received.app.state.core
        assert world.admin().admin("POST", "/rounds", OPEN)["round_id"] == 1
        core.fhe_backend.open_round(2, 4, LEVELS)
        assert world.admin().admin("POST", "/admin/custodian/orphans") == {"spent": [2]}
        assert custodian._rounds["2"].aborted and not custodian._rounds["1"].aborted
        with httpx.Client(base_url=world.custodian_url) as anyone:  # the listing is the operator's alone
            refused = anyone.get("/rounds", params={"operator": core.operator_address})
        assert refused.status_code == 401 and refused.json()["error"]["code"], refused.text
