"""Issue 12 deliverable 3: a durable custodian.

Per-round state (masks sealed at rest, slot owners, issued and decrypted flags) is written and
fsync'd before any answer that depends on it. A restarted custodian (a new app on the same key
directory and log) finishes a round in flight, refuses a second decryption of any round it ever
decrypted, and the operator can abort a stuck round on both sides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.custodian import create_custodian_app
from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from tests.operator.fhe_helpers import (
    CUSTODIAN_TOKEN,
    LEVELS,
    FheWorld,
    fhe_world,
    fund_institutions,
    open_fhe_round,
    run_fhe_round,
)

pytestmark = [pytest.mark.fhe]
AUTH = {"Authorization": f"Bearer {CUSTODIAN_TOKEN}"}


def _restart(world: FheWorld) -> Any:
    """Replace the custodian's state by one rebuilt from its directory (what a restarted process loads)."""
    settings = world.custodian_received.app.state.settings
    world.custodian_received.app = create_custodian_app(settings)
    return world.custodian_received.app.state.core


def _open_round_with_orders(world: FheWorld, orders: list[tuple[Side, int, int]]) -> tuple[int, list[Any]]:
    fund_institutions(world)
    rid = open_fhe_round(world)
    clients = [world.client(who) for who in world.people[: len(orders)]]
    tickets = [c.fhe_order(rid, "ETH-PERP", side, limit, qty) for c, (side, limit, qty) in zip(clients, orders,
                                                                                                strict=True)]
    return rid, tickets


@pytest.mark.parametrize("groups", [1, 2], ids=["unsplit", "split"])
def test_round_when_custodian_restarts_mid_round_then_it_still_clears_once(tmp_path: Path, groups: int) -> None:
    with fhe_world(tmp_path, simulate=True, groups=groups) as world:
        rid, _ = _open_round_with_orders(world, [(Side.BUY, 299_999, 47), (Side.SELL, 299_997, 53)])
        before = world.custodian_received.app.state.core._rounds[str(rid)]
        core = _restart(world)
        after = core._rounds[str(rid)]
        assert after.opened == before.opened and after.digits == before.digits
        assert set(after.grants) == {0, 1} and not after.decrypted
        # A third institution still gets a mask (the round is open), the round clears once.
        world.client(world.people[2]).fhe_order(rid, "ETH-PERP", Side.SELL, 299_999, 5)
        cleared = world.admin().admin("POST", f"/rounds/{rid}/clear")
        assert cleared["result"]["volume_lots"] == 47
        core = _restart(world)
        assert core._rounds[str(rid)].decrypted
        assert core._rounds[str(rid)].shape_key[3] == groups


@pytest.mark.attack
def test_split_round_when_reopened_with_other_groups_then_refused(tmp_path: Path) -> None:
    """An operator asking for a split round's masks again as another split (or unsplit) gets nothing: one
    round has one Enc(R), drawn once, even across a restart."""
    with fhe_world(tmp_path, simulate=True, groups=2) as world:
        rid, _ = _open_round_with_orders(world, [(Side.BUY, 299_999, 47)])
        operator = world.operator_app.state.core.operator_address
        core = _restart(world)
        opened = core._rounds[str(rid)].opened
        assert core.open_round(str(rid), 4, LEVELS, 255, operator, 2) == opened
        for groups in (1, 4):
            with pytest.raises(DarkPoolError, match="another shape") as refused:
                core.open_round(str(rid), 4, LEVELS, 255, operator, groups)
            assert refused.value.code == "round_id_taken"
        with pytest.raises(DarkPoolError, match="groups must be in"):
            core.open_round(str(rid + 1), 4, LEVELS, 255, operator, 17)


def test_masks_when_stored_then_sealed_at_rest_and_private(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        rid, _ = _open_round_with_orders(world, [(Side.BUY, 299_999, 47)])
        core = world.custodian_received.app.state.core
        record = core.store._path(str(rid))
        raw = json.loads(record.read_text())
        state = core._rounds[str(rid)]
        masks = core._custodians[(state.shape_key, state.epoch)].round_masks(str(rid))
        assert json.dumps(masks.tolist()) not in record.read_text()
        assert isinstance(raw["mask_digits"], str) and len(bytes.fromhex(raw["mask_digits"])) > 16
        assert record.stat().st_mode & 0o077 == 0 and record.parent.stat().st_mode & 0o077 == 0


@pytest.mark.attack
def test_replay_when_custodian_restarts_after_decrypting_then_refused(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        out = run_fhe_round(world)
        rid = str(out["round_id"])
        digest = world.custodian_received.app.state.core._rounds[rid].opened.masks_digest
        core = _restart(world)
        operator = world.operator_app.state.core.operator_address
        assert core._rounds[rid].opened.masks_digest == digest  # the same round, restored spent
        with pytest.raises(DarkPoolError) as taken:
            core.open_round(rid, 4, LEVELS, 255, operator)  # a spent id never opens again, even as itself
        assert taken.value.code == "round_id_taken"
        with pytest.raises(DarkPoolError) as refused:
            core.decrypt(rid, "c", "0" * 64, "0" * 64, "0" * 64, [], [])
        assert refused.value.code == "replayed_decryption"
        # Even with its round files gone, the fsync'd log forbids opening the round again.
        for path in core.store.directory.iterdir():
            path.unlink()
        core = _restart(world)
        with pytest.raises(DarkPoolError, match="decryption log") as reopened:
            core.open_round(rid, 4, LEVELS, 255, operator)
        assert reopened.value.code == "replayed_decryption"


def test_abort_when_operator_abandons_a_stuck_round_then_custodian_spends_it(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        rid, _ = _open_round_with_orders(world, [(Side.BUY, 299_999, 47), (Side.SELL, 299_997, 53)])
        world.admin().admin("POST", f"/rounds/{rid}/abandon", {"reason": "custodian restarted mid-round"})
        assert world.operator_app.state.core.get_round(rid).abandoned
        core = _restart(world)  # the abort is durable
        assert core._rounds[str(rid)].aborted == "custodian restarted mid-round"
        with pytest.raises(DarkPoolError) as refused:
            core.decrypt(str(rid), "c", "0" * 64, "0" * 64, "0" * 64, [], [])
        assert refused.value.code == "round_aborted"
        response = httpx.post(f"{world.custodian_url}/rounds/{rid}/abort", headers=AUTH, json={"reason": "again"})
        assert response.status_code == 200 and response.json()["reason"] == "custodian restarted mid-round"
        with pytest.raises(DarkPoolError):
            world.client(world.people[2]).fhe_order(rid, "ETH-PERP", Side.SELL, 299_999, 5)
        assert httpx.get(f"{world.custodian_url}/log").json() == []


def test_epochs_when_rotating_then_each_epoch_has_its_own_key_set_and_rounds_clear(tmp_path: Path) -> None:
    # One round per epoch: round 2 is encrypted under another key set than round 1, the operator and
    # the verifier fetch the new evaluation keys, and both rounds clear.
    with fhe_world(tmp_path, simulate=True, custodian={"epoch_rounds": 1}) as world:
        first = run_fhe_round(world)
        second = run_fhe_round(world)
        core = world.custodian_received.app.state.core
        rounds = [core._rounds[str(out["round_id"])] for out in (first, second)]
        assert [r.epoch for r in rounds] == [0, 1]
        assert rounds[0].opened.key_id != rounds[1].opened.key_id
        assert first["result"]["volume_lots"] == second["result"]["volume_lots"] == 47
        assert [key for key, _ in core._custodians] == [rounds[1].shape_key]  # epoch 0 is retired


@pytest.mark.attack
def test_epochs_when_a_past_epoch_is_spent_then_its_secret_key_is_destroyed(tmp_path: Path) -> None:
    # Real keys: once every round of epoch 0 is spent and epoch 1 has begun, epoch 0's secret key is
    # gone from disk, so whoever later takes the custodian's machine cannot decrypt round 1's Enc(R).
    with fhe_world(tmp_path, simulate=False, custodian={"epoch_rounds": 1}) as world:
        rid, _ = _open_round_with_orders(world, [(Side.BUY, 299_999, 47)])
        core = world.custodian_received.app.state.core
        circuit_dir = core.key_dir / core._rounds[str(rid)].opened.circuit_id
        assert (circuit_dir / "epoch-0" / "keyset" / "secret.keys").exists()
        world.admin().admin("POST", f"/rounds/{rid}/abandon", {"reason": "rotate"})
        rid2 = open_fhe_round(world)
        assert core._rounds[str(rid2)].epoch == 1
        assert not (circuit_dir / "epoch-0" / "keyset" / "secret.keys").exists()
        assert (circuit_dir / "epoch-1" / "keyset" / "secret.keys").exists()
        assert (circuit_dir / "epoch-0" / "keyset" / "eval.keys").exists()  # public: kept for verification
        with pytest.raises(DarkPoolError) as refused:
            core.evaluation_keys(str(circuit_dir.name), core._rounds[str(rid)].opened.key_id)
        assert refused.value.code == "not_found"
        restarted = _restart(world)  # a restart does not bring the retired key set back
        assert str(rid) in restarted._rounds and restarted._rounds[str(rid)].aborted
        assert not (circuit_dir / "epoch-0" / "keyset" / "secret.keys").exists()
