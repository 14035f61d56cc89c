"""An account pushed under maintenance by the price feed has its reduce-only order placed in the next FHE round of
its instrument, in a slot the operator takes as liquidator; it fills against a client's order, books to the
account, replays equal and passes the audit. Simulation (concrete's), a real custodian and verifier on loopback."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.audit import audit_data
from darkpool.audit._data import AuditData, fetch_custodian_log, fetch_operator
from darkpool.domain import Account, OrderId, Side
from darkpool.errors import DarkPoolError
from darkpool.operator import liquidator
from darkpool.operator.api.app import create_operator_core
from darkpool.operator.events import FheCapsBasis, FheLiquidationsPlaced
from darkpool.operator.liquidator import place_planned, plan_liquidations
from darkpool.operator.rounds_fhe import caps_basis, clear_fhe_round, slot_grant, slot_inputs
from darkpool.operator.state import FheState
from darkpool.settlement import embedded_chain
from darkpool.settlement.oracle import PriceFeed
from tests.operator.fhe_helpers import FheWorld, fhe_world
from tests.operator.helpers import ADMIN, Clock

pytestmark = [pytest.mark.fhe, pytest.mark.chain]

LEVELS = 4
LIQUIDATIONS = "FHE liquidations are the margin queue's reduce-only orders"


@dataclass
class LiquidationWorld:
    fhe: FheWorld
    feed: PriceFeed
    owner: str
    clock: Clock
    chain: Any

    @property
    def core(self) -> Any:
        return self.fhe.operator_app.state.core

    def mark(self, price: float) -> None:
        self.feed.post(self.owner, price, self.clock.now)
        outcome = self.fhe.admin().admin("POST", "/admin/oracle/pull")
        assert outcome["ETH"] == "ok", outcome

    def open_round(self, reference: int, orders: list[tuple[int, Side, int, int]]) -> int:
        """Open a 4-slot FHE round of ETH-PERP at ``reference`` and submit ``(person, side, limit, lots)``."""
        rid = int(self.fhe.admin().admin("POST", "/rounds", {
            "mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": reference, "band_low_ticks": reference - 2,
            "levels": LEVELS, "slot_count": 4})["round_id"])
        for who, side, limit, lots in orders:
            self.fhe.client(self.fhe.people[who]).fhe_order(rid, "ETH-PERP", side, limit, lots)
        return rid

    def clear(self, rid: int) -> None:
        self.fhe.admin().admin("POST", f"/rounds/{rid}/clear")

    def fhe_round(self, reference: int, orders: list[tuple[int, Side, int, int]]) -> int:
        rid = self.open_round(reference, orders)
        self.clear(rid)
        return rid

    def stressed_round(self, orders: list[tuple[int, Side, int, int]]) -> int:
        """ETH falls 10% on chain (alpha goes under maintenance); open the next FHE round with ``orders``."""
        self.clock.now += 60
        self.mark(2700.0)
        assert self.fhe.people[0].address.lower() in self.core.margin.liquidation_queue
        return self.open_round(270_000, orders)

    def place(self, rid: int, who: int, side: Side, limit: int, lots: int, published_limit: int | None = None) -> None:
        """The operator, turned adversary, places an order of its choosing as ``who``'s liquidation, through its
        own machinery (reservation, mask from the custodian, encoding, signature), and journals it (with another
        limit than it encoded: ``published_limit``)."""
        core = self.core
        holder = self.fhe.people[who].address.lower()
        with core.lock:
            now, state = core.tick(), core.rounds[rid]
            slot, reservation, _ = liquidator._reserve(core, state, now)
            mask, disclosed = liquidator._mask(core, state, slot, reservation, slot_grant(core, reservation, slot),
                                               now, core.fhe_backend)
            placed = liquidator._encode(core, state, slot, mask, OrderId(f"liquidation:{rid}:1:{holder}"),
                                        Account(holder), int(side), limit, lots, now, disclosed)
            if published_limit is not None:
                placed = placed._replace(limit_ticks=published_limit)
            core.accept(FheLiquidationsPlaced(rid, (placed,), now))
            core.accept(FheCapsBasis(rid, caps_basis(core, state, now), now))

    def audit_data(self) -> AuditData:
        """What the auditors read (with a token that shows private entries too), and the custodian's log."""
        with httpx.Client(base_url=self.fhe.operator_url, headers={"Authorization": f"Bearer {ADMIN}"}) as http:
            data = fetch_operator(http)
        with httpx.Client(base_url=self.fhe.custodian_url) as http:
            data.custodian_log = fetch_custodian_log(http)
        return data


def _checks(data: AuditData) -> dict[str, tuple[bool | None, str]]:
    return {c.name: (c.ok, c.detail) for c in audit_data(data).checks}


@contextmanager
def liquidation_world(tmp_path: Path) -> Iterator[LiquidationWorld]:
    """Alpha (700 USD) bought ETH-PERP from beta in an FHE round at 3000; gamma is funded and flat."""
    chain = embedded_chain()
    owner = chain.accounts[0]
    feed = PriceFeed.deploy(chain, owner, "ETH / USD")
    clock = Clock()
    with fhe_world(tmp_path, simulate=True, clock=clock, chain=chain, mark_max_age_s=600,
                   operator={"oracles": f"ETH={feed.address}"}) as fhe:
        world = LiquidationWorld(fhe, feed, owner, clock, chain)
        admin = fhe.admin()
        for i, amount in enumerate((700 * 10**6, 10**12, 10**12), start=1):
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": fhe.people[i - 1].address,
                                                    "amount": amount})
        world.mark(3000.0)
        world.fhe_round(300_000, [(0, Side.BUY, 300_001, 255), (1, Side.SELL, 299_998, 255)])
        yield world


def _fhe(core: Any, rid: int) -> FheState:
    state = core.rounds[rid]
    assert isinstance(state, FheState)
    return state


def _lots(core: Any, who: str) -> int:
    return sum(p.lots for p in core.margin.positions(who) if p.instrument == "ETH-PERP")


def _state(core: Any) -> dict[str, Any]:
    return {"rounds": [r.summary() for r in core.rounds.values()], "balances": core.balances(),
            "positions": {a: core.margin.positions(a) for a in core.margin.accounts}, "fills": list(core.books.fills),
            "head": core.journal.head, "seq": core.journal.seq, "nonces": len(core.verifier.nonces)}


def test_fhe_round_when_feed_moves_account_under_maintenance_then_its_reduce_only_order_fills_there(
    tmp_path: Path,
) -> None:
    with liquidation_world(tmp_path) as world:
        core, alpha = world.core, world.fhe.people[0].address.lower()
        opened = _lots(core, alpha)
        assert opened > 0 and alpha not in core.margin.liquidation_queue
        rid = world.stressed_round([(2, Side.BUY, 270_001, 255)])  # the mark alone queued alpha
        world.clear(rid)
        state = core.rounds[rid]
        (placed,) = state.liquidations.values()
        assert (placed.account, Side(placed.side)) == (alpha, Side.SELL) and placed.slot == 1
        assert state.slots[placed.slot] == alpha and state.evaluated.slot_fills[placed.slot] > 0
        after = _lots(core, alpha)
        assert 0 <= after < opened and after == opened - state.evaluated.slot_fills[placed.slot]
        liquidation_fills = [f for f in core.books.fills if f.order_id == placed.order_id]
        assert [(f.account, f.side) for f in liquidation_fills] == [(alpha, Side.SELL)]
        published = next(r for r in world.fhe.admin().admin("GET", "/audit/rounds") if r["round_id"] == rid)
        assert published["liquidations"][0]["account"] == alpha
        checks = _checks(world.audit_data())
        assert all(ok is not False for ok, _ in checks.values()), checks
        assert checks[LIQUIDATIONS][0] is True
        with httpx.Client(base_url=world.fhe.operator_url) as http:  # the public: signature and encoding only
            ok, detail = _checks(fetch_operator(http))[LIQUIDATIONS]
        assert ok is None and "encoded as published" in detail
        settings, before = world.fhe.operator_app.state.settings, _state(core)
    again = create_operator_core(settings, clock=world.clock, chain=world.chain, fhe_backend=object())
    assert _state(again) == before  # replayed once: the liquidation fill is booked once
    assert sum(f.order_id == placed.order_id for f in again.books.fills) == 1
    again.journal.close()


def _without(data: AuditData, kind: str, round_id: int) -> AuditData:
    """``data`` without the journal entry of ``kind`` for ``round_id`` (to look past an earlier finding)."""
    kept = [e for e in data.journal if e.kind != kind or e.is_redacted or e.data()["round_id"] != round_id]
    return dataclasses.replace(data, journal=kept)


@pytest.mark.attack
def test_audit_when_operator_places_a_non_queued_or_non_reduce_only_liquidation_then_fails(tmp_path: Path) -> None:
    with liquidation_world(tmp_path) as world:
        gamma = world.fhe.people[2].address.lower()
        # Gamma is flat and healthy: the operator sells for it as if it were being liquidated.
        rid = world.stressed_round([(1, Side.BUY, 270_001, 255)])
        world.place(rid, 2, Side.SELL, 269_000, 5)
        world.clear(rid)  # the verifier evaluates it (operator-signed, published): the auditors must catch it
        assert world.core.rounds[rid].evaluated.slot_fills[1] == 5
        ok, detail = _checks(world.audit_data())[LIQUIDATIONS]
        assert ok is False and f"round {rid} slot 1" in detail and gamma in detail
        # Alpha is under maintenance and long: the operator buys more for it instead of selling.
        again = world.open_round(270_000, [(1, Side.SELL, 269_999, 255)])
        world.place(again, 0, Side.BUY, 271_000, 5)
        world.clear(again)
        data = _without(world.audit_data(), "fhe_liquidations", rid)
        ok, detail = _checks(data)[LIQUIDATIONS]
        assert ok is False and f"round {again} slot 1" in detail and "not side 0" in detail


@pytest.mark.attack
def test_audit_when_operator_encodes_another_order_than_the_liquidation_it_publishes_then_fails(
    tmp_path: Path,
) -> None:
    with liquidation_world(tmp_path) as world:
        rid = world.stressed_round([(1, Side.BUY, 270_001, 255)])
        (planned,) = [o for o in world.core.margin.liquidation_orders(world.clock.now) if o.instrument == "ETH-PERP"]
        # It publishes the queue's order for alpha but encodes a sell at the band's top: it would fill less.
        world.place(rid, 0, planned.side, 270_001, min(int(planned.quantity_lots), 255),
                    published_limit=int(planned.limit_ticks))
        # The verifier checks the slot against its disclosed mask before evaluating: nothing is decrypted.
        with pytest.raises(DarkPoolError, match="do not encode the published order"):
            world.clear(rid)
        assert str(rid) not in {e["round_id"] for e in httpx.get(f"{world.fhe.custodian_url}/log").json()}
        ok, detail = _checks(world.audit_data())[LIQUIDATIONS]
        assert ok is False and "do not encode the published order" in detail


@pytest.mark.attack
def test_verifier_when_liquidation_slot_is_unpublished_a_clients_or_overcapped_then_refuses(tmp_path: Path) -> None:
    with liquidation_world(tmp_path) as world:
        core = world.core
        rid = world.stressed_round([(2, Side.BUY, 270_001, 255)])
        with core.lock:
            now, state = core.tick(), core.rounds[rid]
            plan = plan_liquidations(core, state, now, lambda r, slot: slot_grant(core, r, slot),
                                     lambda planned: caps_basis(core, state, now, planned))
            assert plan is not None
            place_planned(core, state, plan, core.fhe_backend)
            _, orders = slot_inputs(core, rid, now)
        backend = core.fhe_backend
        info = dataclasses.asdict(state.info)
        (slot,) = state.liquidations
        client = orders[0]
        tampered = {
            # the operator's own order in a slot, not published as a liquidation
            "no liquidation published": {**orders, slot: dataclasses.replace(orders[slot], liquidation=None)},
            # a client's order passed off as a liquidation
            "must be the operator's": {**orders, 0: dataclasses.replace(client, liquidation={
                **(orders[slot].liquidation or {}), "slot": 0, "account": world.fhe.people[2].address.lower()})},
            # a liquidation capped above its quantity
            "capped at its quantity": {**orders, slot: dataclasses.replace(orders[slot], cap=orders[slot].cap + 1)},
            # a liquidation published with another side than its slot's digits encode
            "do not encode the published order": {**orders, slot: dataclasses.replace(orders[slot], liquidation={
                **(orders[slot].liquidation or {}), "side": 1 - int((orders[slot].liquidation or {})["side"])})},
            # a disclosure of another slot's mask, or none that decodes
            "mask disclosure does not decode": {**orders, slot: dataclasses.replace(orders[slot], liquidation={
                **(orders[slot].liquidation or {}), "disclosed": "{}"})},
        }
        for refusal, given in tampered.items():
            body = backend.verifier_body(rid, info, given, "ETH-PERP", 270_000, 269_998, LEVELS, b"\x01" * 32)
            with pytest.raises(DarkPoolError, match=refusal):
                backend.attest(world.fhe.verifier_url, rid, body)
        # The auditors refuse a liquidation whose order is a client's too.
        data = world.audit_data()
        journal = []
        for entry in data.journal:
            if entry.kind == "fhe_liquidations":
                payload = entry.data()
                payload["placed"][0][6] = state.orders[0].wire
                entry = dataclasses.replace(entry, payload=json.dumps(payload).encode())
            journal.append(entry)
        ok, detail = _checks(dataclasses.replace(data, journal=journal))[LIQUIDATIONS]
        assert ok is False and "not by the operator" in detail
        world.clear(rid)  # the honest round still clears


@pytest.mark.attack
def test_restart_when_liquidation_placed_before_a_crash_then_placed_and_booked_once(tmp_path: Path) -> None:
    with liquidation_world(tmp_path) as world:
        core, alpha = world.core, world.fhe.people[0].address.lower()
        opened = _lots(core, alpha)
        rid = world.stressed_round([(2, Side.BUY, 270_001, 255)])
        with core.lock:
            now, state = core.tick(), core.rounds[rid]
            plan = plan_liquidations(core, state, now, lambda r, s: slot_grant(core, r, s),
                                     lambda planned: caps_basis(core, state, now, planned))
            assert plan is not None
            journaled = place_planned(core, state, plan, core.fhe_backend)
        journaled.wait()
        settings = world.fhe.operator_app.state.settings
        # The operator dies after journaling the placement; a new one replays its journal and clears the round.
        restarted = create_operator_core(settings, clock=world.clock, chain=world.chain, fhe_backend=core.fhe_backend)
        assert _fhe(restarted, rid).liquidations == state.liquidations
        clear_fhe_round(restarted, rid)
        restarted.journal.flush()
        kinds = [e.kind for e in restarted.journal.entries(0)]
        assert kinds.count("fhe_liquidations") == 1 and kinds.count("fhe_booked") == 2
        cleared = _fhe(restarted, rid)
        (placed,) = cleared.liquidations.values()
        assert cleared.evaluated is not None
        filled = cleared.evaluated.slot_fills[placed.slot]
        assert filled > 0 and _lots(restarted, alpha) == opened - filled
        before = _state(restarted)
        restarted.journal.close()
        replayed = create_operator_core(settings, clock=world.clock, chain=world.chain, fhe_backend=object())
        assert _state(replayed) == before
        assert sum(f.order_id == placed.order_id for f in replayed.books.fills) == 1
        replayed.journal.close()



def test_close_when_the_custodian_fails_the_mask_request_then_the_retry_reuses_the_reserved_slot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A close whose mask request fails (fault injected once: the custodian did not answer) leaves the slot the
    operator reserved; the retried close places the liquidation there instead of taking another free slot."""
    from darkpool.errors import ServiceUnavailable

    with liquidation_world(tmp_path) as world:
        core, alpha, operator = world.core, world.fhe.people[0].address.lower(), world.core.operator_address
        rid = world.stressed_round([(2, Side.BUY, 270_001, 255)])
        backend, asked = core.fhe_backend, []
        real_mask = backend.mask

        def failing_once(round_id: int, body: dict[str, Any]) -> dict[str, Any]:
            asked.append(round_id)
            if len(asked) == 1:
                raise ServiceUnavailable("the custodian does not answer (injected)")
            return real_mask(round_id, body)

        monkeypatch.setattr(backend, "mask", failing_once)
        with pytest.raises(DarkPoolError, match="injected"):
            world.clear(rid)
        state = core.rounds[rid]
        assert [s for s, who in state.slots.items() if who == operator] == [1] and not state.liquidations
        world.clear(rid)
        (placed,) = state.liquidations.values()
        assert placed.slot == 1 and state.slots[1] == alpha and len(state.slots) == 2
        assert state.evaluated is not None and state.evaluated.slot_fills[1] > 0
        assert _checks(world.audit_data())[LIQUIDATIONS][0] is True


def test_close_when_the_custodian_is_slow_with_a_liquidation_mask_then_the_operator_serves_others_meanwhile(
        tmp_path: Path) -> None:
    """The liquidation slot's mask is fetched with the core's lock released: while the custodian holds the
    request, the operator books a deposit (alpha's, which would take it out of the queue) and refuses a slot in
    the frozen round; the placement is then judged, and audited, on the basis it was planned on."""
    import threading

    from darkpool.sdk import DarkPoolClient
    from tests.operator.fhe_helpers import Hold

    with liquidation_world(tmp_path) as world:
        core, alpha = world.core, world.fhe.people[0].address.lower()
        rid = world.stressed_round([(2, Side.BUY, 270_001, 255)])
        hold = world.fhe.custodian_received.holds[f"POST /rounds/{rid}/mask"] = Hold()
        cleared: list[Any] = []
        closer = threading.Thread(
            target=lambda: cleared.append(world.fhe.admin().admin("POST", f"/rounds/{rid}/clear")))
        closer.start()
        try:
            assert hold.reached.wait(30), "the close never asked for the liquidation slot's mask"
            with DarkPoolClient(world.fhe.operator_url, admin_token=ADMIN, timeout=20) as quick:
                quick.admin("POST", "/admin/deposits", {"deposit_id": 4, "account": alpha, "amount": 10**12})
            with pytest.raises(DarkPoolError, match="being evaluated"), DarkPoolClient(
                    world.fhe.operator_url, world.fhe.people[3], custodian=world.fhe.custodian_url, timeout=20) as late:
                late.fhe_order(rid, "ETH-PERP", Side.BUY, 270_001, 1)
        finally:
            hold.released.set()
            closer.join(120)
        assert cleared and cleared[0]["result"]["volume_lots"] > 0, cleared
        (placed,) = core.rounds[rid].liquidations.values()
        assert placed.account == alpha and core.rounds[rid].evaluated.slot_fills[placed.slot] > 0
        checks = _checks(world.audit_data())
        assert all(ok is not False for ok, _ in checks.values()), checks
        assert checks[LIQUIDATIONS][0] is True
