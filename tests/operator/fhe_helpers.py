"""Run an operator, a custodian and a verifier on loopback for FHE rounds, recording everything each receives."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkpool.custodian import create_custodian_app
from darkpool.domain import Side
from darkpool.operator import create_operator_app
from darkpool.sdk import DarkPoolClient, Identity
from darkpool.verifier import create_verifier_app
from darkpool.web.serve import ServerThread, reserve_port
from darkpool.web.settings import CustodianSettings, OperatorSettings, VerifierSettings
from tests.operator.helpers import ADMIN, TOKEN, VAULT, identities

CUSTODIAN_TOKEN = "custodian-test-token"
VERIFIER_TOKEN = "verifier-test-token"
# (side, limit, quantity): band 299_996..299_999, reference 299_998. The first two trade 47 lots at
# 299_998; the last two never fill (a sell at the band's top, a buy below the band). No one ever
# sends their limits or sizes in the clear, so a scan must not find them anywhere.
REFERENCE, BAND_LOW, LEVELS = 299_998, 299_996, 4
FHE_ORDERS = [(Side.BUY, 299_999, 47), (Side.SELL, 299_997, 53), (Side.SELL, 299_999, 173),
              (Side.BUY, 299_990, 211)]
UNFILLED_VALUES = ("299999", "173", "299990", "211")


@dataclass
class Hold:
    """A request held at a :class:`Recorder` until ``released`` (then answered 503 if ``fail``)."""

    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    fail: bool = False


@dataclass
class Recorder:
    """An ASGI wrapper that keeps every request (path, query, body) an app receives.

    ``holds`` maps ``"METHOD /path"`` to a :class:`Hold`: such a request waits until the test lets it go
    (a slow custodian), then reaches the app or is answered 503 (one that fails).
    """

    app: Any
    received: list[bytes] = field(default_factory=list)
    holds: dict[str, Hold] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hold = self.holds.get(f"{scope['method']} {scope['path']}")
        if hold is not None:
            hold.reached.set()
            while not hold.released.is_set():
                await asyncio.sleep(0.01)
            if hold.fail:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": json.dumps(
                    {"error": {"code": "service_unavailable", "message": "held and failed by the test"}}).encode()})
                return
        chunks = [scope["path"].encode(), scope.get("query_string", b"")]

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording_receive, send)
        finally:
            self.received.append(b" ".join(chunks))


@dataclass
class FheWorld:
    operator_url: str
    custodian_url: str
    operator_received: Recorder
    custodian_received: Recorder
    operator_app: Any
    people: list[Identity]
    data_dir: Path
    verifier_url: str = ""
    verifier_received: Recorder | None = None

    def client(self, who: Identity) -> DarkPoolClient:
        return DarkPoolClient(self.operator_url, who, custodian=self.custodian_url)

    def admin(self) -> DarkPoolClient:
        return DarkPoolClient(self.operator_url, admin_token=ADMIN)


@contextmanager
def fhe_world(tmp_path: Path, *, simulate: bool, max_quantity: int = 255, clock: Callable[[], int] | None = None,
              mark_max_age_s: int = 10**6, custodian: dict[str, Any] | None = None,
              operator: dict[str, Any] | None = None, chain: Any = None, groups: int = 1) -> Iterator[FheWorld]:
    """``groups`` > 1: every round is split into that many slot groups (custodian, verifier and operator)."""
    cache = tmp_path.parent / "fhe-cache"
    shape = f"4x4x{max_quantity}" + (f"x{groups}" if groups > 1 else "")
    c_sock, o_sock = reserve_port(), reserve_port()  # bound until served: no other test can take them
    c_port, o_port = c_sock.getsockname()[1], o_sock.getsockname()[1]
    verifier_app = create_verifier_app(VerifierSettings(
        vault=VAULT, operator_token=VERIFIER_TOKEN, custodian_url=f"http://127.0.0.1:{c_port}",
        key_dir=str(tmp_path / "verifier-keys"), cache_dir=str(cache), simulate=simulate, shapes=shape))
    custodian_settings = CustodianSettings(vault=VAULT, operator_token=CUSTODIAN_TOKEN,
                                           log=str(tmp_path / "custodian-log.jsonl"),
                                           key_dir=str(tmp_path / "custodian-keys"), cache_dir=str(cache),
                                           simulate=simulate, shapes=shape,
                                           verifiers=verifier_app.state.core.address,
                                           operator_url=f"http://127.0.0.1:{o_port}", **(custodian or {}))
    with ExitStack() as stack:
        stack.callback(c_sock.close)
        stack.callback(o_sock.close)
        custodian_app = Recorder(create_custodian_app(custodian_settings))
        c_server = stack.enter_context(ServerThread(custodian_app, sock=c_sock))  # type: ignore[arg-type]
        verifier = Recorder(verifier_app)
        v_server = stack.enter_context(ServerThread(verifier))  # type: ignore[arg-type]
        settings = OperatorSettings(journal=str(tmp_path / "journal.db"), vault=VAULT, token=TOKEN,
                                    admin_token=ADMIN, mark_max_age_s=mark_max_age_s, custodian_url=c_server.url,
                                    secrets_dir=str(tmp_path / "operator-secrets"),
                                    custodian_token=CUSTODIAN_TOKEN, fhe_cache_dir=str(cache),
                                    fhe_simulate=simulate, fhe_max_quantity=max_quantity,
                                    data_dir=str(tmp_path / "operator-data"), fhe_shapes="4x4",
                                    verifier_urls=v_server.url, verifier_token=VERIFIER_TOKEN,
                                    fhe_split_groups=groups, **(operator or {}))
        app = create_operator_app(settings, clock=clock, chain=chain)
        operator_recorder = Recorder(app)
        o_server = stack.enter_context(ServerThread(operator_recorder, sock=o_sock))  # type: ignore[arg-type]
        yield FheWorld(o_server.url, c_server.url, operator_recorder, custodian_app, app, identities(4), tmp_path,
                       v_server.url, verifier)


def fund_institutions(world: FheWorld) -> None:
    """Credit each of the four institutions 10**12 and mark ETH at 3000 (idempotent deposit ids)."""
    admin = world.admin()
    for i, who in enumerate(world.people, start=1):
        admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": 10**12})
    admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})


def open_fhe_round(world: FheWorld, instrument: str = "ETH-PERP", reference: int = REFERENCE,
                   band_low: int = BAND_LOW) -> int:
    """Announce a 4-slot FHE round of ``LEVELS`` levels; return its id."""
    return int(world.admin().admin("POST", "/rounds", {
        "mode": "fhe", "instrument": instrument, "reference_ticks": reference, "band_low_ticks": band_low,
        "levels": LEVELS, "slot_count": 4})["round_id"])


def run_fhe_round(world: FheWorld, orders: list[tuple[Side, int, int]] = FHE_ORDERS) -> dict[str, Any]:
    """Fund four institutions, run one FHE round on ETH-PERP (fills book from the outputs); return the round."""
    admin = world.admin()
    fund_institutions(world)
    rid = open_fhe_round(world)
    clients = [world.client(who) for who in world.people]
    tickets = [c.fhe_order(rid, "ETH-PERP", side, limit, qty)
               for c, (side, limit, qty) in zip(clients, orders, strict=True)]
    cleared = admin.admin("POST", f"/rounds/{rid}/clear")
    return {"round_id": rid, "result": cleared["result"], "clients": clients, "tickets": tickets}
