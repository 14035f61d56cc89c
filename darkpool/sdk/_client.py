"""Sync and async clients over httpx, driving the shared operations of :mod:`darkpool.sdk._ops`.

Both clients have the same verbs with the same arguments and results; each verb is one line that
hands an operation to its client's driver. A test runs one scenario through both and compares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from darkpool.domain import Side
from darkpool.errors import ValidationError
from darkpool.sdk._keys import Identity
from darkpool.sdk._ops import Call, CommitTicket, FheTicket, Op, Ops, Pause
from darkpool.web.codes import raise_for_error

if TYPE_CHECKING:
    from darkpool.settlement import CommittedBatch

__all__ = ["AsyncDarkPoolClient", "DarkPoolClient"]

H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class _Base:
    def __init__(self, identity: Identity | None, admin_token: str | None, ops: Ops | None) -> None:
        self.ops = ops or Ops(identity)
        self.admin_token = admin_token

    @property
    def address(self) -> str:
        return self.ops.me.address

    def _headers(self, call: Call) -> dict[str, str]:
        headers = dict(call.headers)
        if not call.admin:
            return headers
        if self.admin_token is None:
            raise ValidationError("this call needs the operator's admin token")
        return {**headers, "Authorization": f"Bearer {self.admin_token}"}

    @staticmethod
    def _pick(call: Call, operator: H, custodian: H | None) -> H:
        http = operator if call.service == "operator" else custodian
        if http is None:
            raise ValidationError(f"no {call.service} client configured")
        return http


class DarkPoolClient(_Base):
    """A synchronous client of the operator (and optionally the custodian).

    Pass ``transport=`` (e.g. ``httpx.WSGITransport`` or a ``MockTransport``) to talk without a socket.
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
            step = next(op)
            while True:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = op.send(None)
                    continue
                http = self._pick(step, self.http, self.custodian)
                response = http.request(step.method, step.path, json=step.json, headers=self._headers(step))
                step = op.send(raise_for_error(response))
        except StopIteration as done:
            return done.value

    # -- institution verbs (AsyncDarkPoolClient has each, with the same signature) ---------------
    def info(self) -> dict[str, Any]:
        return dict(self.run(self.ops.info()))

    def balance(self) -> dict[str, Any]:
        return dict(self.run(self.ops.balance()))

    def positions(self) -> dict[str, int]:
        return dict(self.run(self.ops.positions()))

    def fills(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.fills()))

    def margin(self) -> dict[str, Any]:
        return dict(self.run(self.ops.margin()))

    def rounds(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.rounds()))

    def round(self, round_id: int) -> dict[str, Any]:
        return dict(self.run(self.ops.round(round_id)))

    def follow(self, round_id: int, phase: str = "cleared", timeout_s: float = 600.0,
               poll_s: float = 0.2) -> dict[str, Any]:
        """Poll the round until it reaches ``phase``; return it."""
        return dict(self.run(self.ops.follow(round_id, phase, timeout_s, poll_s)))

    def commit_orders(self, round_id: int, instrument: str, orders: Sequence[tuple[Side, int, int, int]]
                      ) -> tuple[list[CommitTicket | None], list[dict[str, Any]]]:
        """Sign and send ``(side, limit_ticks, quantity_lots, bond)`` commitments in one request."""
        return self.run(self.ops.commit_orders(round_id, instrument, orders))  # type: ignore[no-any-return]

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


    def withdraw(self, amount: int) -> int:
        return int(self.run(self.ops.withdraw(amount)))

    def withdrawal(self, withdrawal_id: int) -> dict[str, Any]:
        return dict(self.run(self.ops.withdrawal(withdrawal_id)))

    def proofs(self) -> list[dict[str, Any]]:
        return list(self.run(self.ops.proofs()))

    def verify_inclusion(self, chain_batches: Sequence[CommittedBatch] | None = None) -> list[str]:
        """Check this account's proofs against the operator's roots (and the chain's, when given)."""
        return list(self.run(self.ops.verify_inclusion(chain_batches)))

    # -- operator verbs (admin token) -----------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.run(self.ops.admin(method, path, body))


class AsyncDarkPoolClient(_Base):
    """The asynchronous twin of :class:`DarkPoolClient`: the same verbs, awaited.

    Pass ``transport=httpx.ASGITransport(app)`` to talk to an app in process.
    """

    def __init__(self, base_url: str, identity: Identity | None = None, *, admin_token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 custodian: httpx.AsyncClient | str | None = None, timeout: float = 600.0,
                 ops: Ops | None = None) -> None:
        super().__init__(identity, admin_token, ops)
        self.http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)
        self.custodian = (httpx.AsyncClient(base_url=custodian, timeout=timeout) if isinstance(custodian, str)
                          else custodian)

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.custodian is not None:
            await self.custodian.aclose()

    async def __aenter__(self) -> AsyncDarkPoolClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(self, op: Op) -> Any:
        """Drive one operation to its result."""
        try:
            step = next(op)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = op.send(None)
                    continue
                http = self._pick(step, self.http, self.custodian)
                response = await http.request(step.method, step.path, json=step.json, headers=self._headers(step))
                step = op.send(raise_for_error(response))
        except StopIteration as done:
            return done.value

    # -- institution verbs ----------------------------------------------------------------------
    async def info(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.info()))

    async def balance(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.balance()))

    async def positions(self) -> dict[str, int]:
        return dict(await self.run(self.ops.positions()))

    async def fills(self) -> list[dict[str, Any]]:
        return list(await self.run(self.ops.fills()))

    async def margin(self) -> dict[str, Any]:
        return dict(await self.run(self.ops.margin()))

    async def rounds(self) -> list[dict[str, Any]]:
        return list(await self.run(self.ops.rounds()))

    async def round(self, round_id: int) -> dict[str, Any]:
        return dict(await self.run(self.ops.round(round_id)))

    async def follow(self, round_id: int, phase: str = "cleared", timeout_s: float = 600.0,
                     poll_s: float = 0.2) -> dict[str, Any]:
        """Poll the round until it reaches ``phase``; return it."""
        return dict(await self.run(self.ops.follow(round_id, phase, timeout_s, poll_s)))

    async def commit_orders(self, round_id: int, instrument: str, orders: Sequence[tuple[Side, int, int, int]]
                            ) -> tuple[list[CommitTicket | None], list[dict[str, Any]]]:
        """Sign and send ``(side, limit_ticks, quantity_lots, bond)`` commitments in one request."""
        return await self.run(self.ops.commit_orders(round_id, instrument, orders))  # type: ignore[no-any-return]

    async def commit_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int,
                           quantity_lots: int, bond: int = 0) -> CommitTicket:
        ticket: CommitTicket = await self.run(self.ops.commit_order(round_id, instrument, side, limit_ticks,
                                                                    quantity_lots, bond))
        return ticket

    async def reveal(self, ticket: CommitTicket) -> dict[str, Any]:
        return dict(await self.run(self.ops.reveal(ticket)))

    async def fhe_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int,
                        quantity_lots: int) -> FheTicket:
        """Reserve a slot, fetch its mask from the custodian, submit the masked order."""
        ticket: FheTicket = await self.run(self.ops.fhe_order(round_id, instrument, side, limit_ticks,
                                                              quantity_lots))
        return ticket


    async def withdraw(self, amount: int) -> int:
        return int(await self.run(self.ops.withdraw(amount)))

    async def withdrawal(self, withdrawal_id: int) -> dict[str, Any]:
        return dict(await self.run(self.ops.withdrawal(withdrawal_id)))

    async def proofs(self) -> list[dict[str, Any]]:
        return list(await self.run(self.ops.proofs()))

    async def verify_inclusion(self, chain_batches: Sequence[CommittedBatch] | None = None) -> list[str]:
        """Check this account's proofs against the operator's roots (and the chain's, when given)."""
        return list(await self.run(self.ops.verify_inclusion(chain_batches)))

    # -- operator verbs (admin token) -----------------------------------------------------------
    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        return await self.run(self.ops.admin(method, path, body))
