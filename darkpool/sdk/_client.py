"""Sync and async clients over httpx, driving the shared operations of :mod:`darkpool.sdk._ops`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from darkpool.domain import Side
from darkpool.errors import ValidationError
from darkpool.sdk._keys import Identity
from darkpool.sdk._ops import Call, CommitTicket, FheTicket, Op, Ops
from darkpool.web.codes import raise_for_error

__all__ = ["AsyncDarkPoolClient", "DarkPoolClient"]


def _headers(call: Call, admin_token: str | None) -> dict[str, str]:
    if not call.admin:
        return {}
    if admin_token is None:
        raise ValidationError("this call needs the operator's admin token")
    return {"Authorization": f"Bearer {admin_token}"}


class _Base:
    def __init__(self, identity: Identity | None, admin_token: str | None, ops: Ops | None) -> None:
        self.ops = ops or Ops(identity)
        self.admin_token = admin_token

    @property
    def address(self) -> str:
        return self.ops.me.address


class DarkPoolClient(_Base):
    """A synchronous client of the operator (and optionally the custodian).

    Pass ``transport=httpx.ASGITransport(app)`` to talk to an app in process.
    """

    def __init__(self, base_url: str, identity: Identity | None = None, *, admin_token: str | None = None,
                 transport: httpx.BaseTransport | None = None, custodian: httpx.Client | str | None = None,
                 timeout: float = 600.0, ops: Ops | None = None) -> None:
        super().__init__(identity, admin_token, ops)
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)
        self.custodian = httpx.Client(base_url=custodian, timeout=timeout) if isinstance(custodian, str) else custodian

    def close(self) -> None:
        self.http.close()
        if self.custodian is not None:
            self.custodian.close()

    def __enter__(self) -> DarkPoolClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, op: Op) -> Any:
        """Drive one operation to its result."""
        try:
            call = next(op)
            while True:
                http = self.http if call.service == "operator" else self.custodian
                if http is None:
                    raise ValidationError(f"no {call.service} client configured")
                response = http.request(call.method, call.path, json=call.json,
                                        headers=_headers(call, self.admin_token))
                call = op.send(raise_for_error(response))
        except StopIteration as done:
            return done.value

    # -- institution verbs ----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return dict(self.run(self.ops.info()))

    def balance(self) -> dict[str, Any]:
        return dict(self.run(self.ops.get(f"/accounts/{self.address}/balance")))

    def positions(self) -> dict[str, int]:
        return dict(self.run(self.ops.get(f"/accounts/{self.address}/positions")))

    def fills(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.get(f"/accounts/{self.address}/fills")))

    def margin(self) -> dict[str, Any]:
        return dict(self.run(self.ops.get(f"/accounts/{self.address}/margin")))

    def rounds(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.get("/rounds")))

    def round(self, round_id: int) -> dict[str, Any]:
        return dict(self.run(self.ops.get(f"/rounds/{round_id}")))

    def follow(self, round_id: int, phase: str = "cleared", timeout_s: float = 600.0,
               sleep: Callable[[float], None] | None = None, poll_s: float = 0.2) -> dict[str, Any]:
        """Poll the round until it reaches ``phase``; return it."""
        import time

        pause = sleep or time.sleep
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.round(round_id)
            if state["phase"] == phase:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {round_id} did not reach {phase} in {timeout_s}s")
            pause(poll_s)

    def commit_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int, quantity_lots: int,
                     bond: int = 0) -> CommitTicket:
        ticket: CommitTicket = self.run(self.ops.commit_order(round_id, instrument, side, limit_ticks,
                                                              quantity_lots, bond))
        return ticket

    def reveal(self, ticket: CommitTicket) -> dict[str, Any]:
        return dict(self.run(self.ops.reveal(ticket)))

    def fhe_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int,
                  quantity_lots: int) -> FheTicket:
        """Reserve a slot, fetch its mask from the custodian, submit the masked order."""
        ticket: FheTicket = self.run(self.ops.fhe_order(round_id, instrument, side, limit_ticks, quantity_lots))
        return ticket

    def open_side(self, ticket: FheTicket) -> dict[str, Any]:
        return dict(self.run(self.ops.open_side(ticket)))

    def withdraw(self, amount: int) -> int:
        return int(self.run(self.ops.withdraw(amount)))

    def withdrawal(self, withdrawal_id: int) -> dict[str, Any]:
        return dict(self.run(self.ops.get(f"/withdrawals/{withdrawal_id}")))

    def proofs(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.get(f"/accounts/{self.address}/proofs")))

    def verify_inclusion(self, chain_batches: list[dict[str, Any]] | None = None) -> list[str]:
        return list(self.run(self.ops.verify_inclusion(chain_batches)))

    # -- operator verbs (admin token) -----------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.run(_admin(method, path, body))


def _admin(method: str, path: str, body: Any) -> Op:
    return (yield Call(method, path, body, admin=True))


class AsyncDarkPoolClient(_Base):
    """The asynchronous twin of :class:`DarkPoolClient`."""

    def __init__(self, base_url: str, identity: Identity | None = None, *, admin_token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, custodian: httpx.AsyncClient | None = None,
                 timeout: float = 60.0, ops: Ops | None = None) -> None:
        super().__init__(identity, admin_token, ops)
        self.http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)
        self.custodian = custodian

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncDarkPoolClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, op: Op) -> Any:
        try:
            call = next(op)
            while True:
                http = self.http if call.service == "operator" else self.custodian
                if http is None:
                    raise ValidationError(f"no {call.service} client configured")
                response = await http.request(call.method, call.path, json=call.json,
                                              headers=_headers(call, self.admin_token))
                call = op.send(raise_for_error(response))
        except StopIteration as done:
            return done.value

    async def info(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.info()))

    async def balance(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.get(f"/accounts/{self.address}/balance")))

    async def positions(self) -> dict[str, int]:
        return dict(await self.run(self.ops.get(f"/accounts/{self.address}/positions")))

    async def fills(self) -> list[dict[str, Any]]:
        return list(await self.run(self.ops.get(f"/accounts/{self.address}/fills")))

    async def margin(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.get(f"/accounts/{self.address}/margin")))

    async def round(self, round_id: int) -> dict[str, Any]:
        return dict(await self.run(self.ops.get(f"/rounds/{round_id}")))

    async def commit_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int,
                           quantity_lots: int, bond: int = 0) -> CommitTicket:
        ticket: CommitTicket = await self.run(self.ops.commit_order(round_id, instrument, side, limit_ticks,
                                                                    quantity_lots, bond))
        return ticket

    async def reveal(self, ticket: CommitTicket) -> dict[str, Any]:
        return dict(await self.run(self.ops.reveal(ticket)))

    async def fhe_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int,
                        quantity_lots: int) -> FheTicket:
        ticket: FheTicket = await self.run(self.ops.fhe_order(round_id, instrument, side, limit_ticks,
                                                              quantity_lots))
        return ticket

    async def open_side(self, ticket: FheTicket) -> dict[str, Any]:
        return dict(await self.run(self.ops.open_side(ticket)))

    async def withdraw(self, amount: int) -> int:
        return int(await self.run(self.ops.withdraw(amount)))

    async def verify_inclusion(self, chain_batches: list[dict[str, Any]] | None = None) -> list[str]:
        return list(await self.run(self.ops.verify_inclusion(chain_batches)))

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        return await self.run(_admin(method, path, body))
