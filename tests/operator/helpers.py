"""Shared helpers: settings, institutions and a driven commit-reveal round."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from darkpool.domain import Side
from darkpool.sdk import AsyncDarkPoolClient, Identity
from darkpool.web.settings import OperatorSettings

ADMIN = "test-admin-token"
VAULT = "0x" + "5e" * 20
TOKEN = "0x" + "70" * 20
NOW = int(time.time())
"""The operator clocks of the tests start at the real time: clients sign with their own (real) clocks,
and an operator refuses a signed read that expires too far beyond its own now."""


class Clock:
    """A settable clock in POSIX seconds."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def settings(tmp_path: Path, **extra: Any) -> OperatorSettings:
    return OperatorSettings(journal=str(tmp_path / "journal.db"), data_dir=str(tmp_path), vault=VAULT, token=TOKEN,
                            admin_token=ADMIN, secrets_dir=str(tmp_path / "secrets"),
                            mark_max_age_s=10_000, **extra)


def identities(n: int = 3) -> list[Identity]:
    return [Identity.from_key(bytes([i + 1]) * 32) for i in range(n)]


ORDERS: list[tuple[Side, int, int]] = [(Side.BUY, 300_004, 12), (Side.SELL, 299_998, 8), (Side.SELL, 300_001, 9)]


async def fund(admin: AsyncDarkPoolClient, people: list[Identity], amount: int = 10**12) -> None:
    for i, who in enumerate(people, start=1):
        await admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address, "amount": amount})
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})


async def close_commits(admin: AsyncDarkPoolClient, clock: Clock, rid: int) -> None:
    """Move ``clock`` to the end of round ``rid``'s commit phase (its schedule is public)."""
    summary = await admin.admin("GET", f"/rounds/{rid}")
    clock.now = max(clock.now, summary["commit_closes_at"])


async def commit_reveal_round(admin: AsyncDarkPoolClient, clients: list[AsyncDarkPoolClient], clock: Clock,
                              orders: list[tuple[Side, int, int]] = ORDERS,
                              before_clear: Callable[[], Any] | None = None) -> dict[str, Any]:
    opened = await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                                   "reference_ticks": 300_000, "band_low_ticks": 299_996,
                                                   "levels": 8})
    rid = opened["round_id"]
    tickets = [await c.commit_order(rid, "ETH-PERP", side, limit, qty, bond=1000)
               for c, (side, limit, qty) in zip(clients, orders, strict=True)]
    await close_commits(admin, clock, rid)
    await admin.admin("POST", f"/rounds/{rid}/seal")
    for c, t in zip(clients, tickets, strict=True):
        await c.reveal(t)
    result: dict[str, Any] = await admin.admin("POST", f"/rounds/{rid}/clear")
    return {"round_id": rid, **result}


def deposited_world(journal: Path, deposit: int = 10**11) -> tuple[Any, Any, list[Identity], OperatorSettings]:
    """Deploy on a fresh py-evm chain, fund three institutions and deposit ``deposit`` each on chain.

    Return the chain, the deployment, the institutions and settings for an operator settling there.
    """
    from darkpool.settlement import Vault, embedded_chain
    from darkpool.settlement.deploy import deploy, fund_institution

    chain = embedded_chain()
    d = deploy(chain)
    people = identities(3)
    fund_institution(chain, d, [p.address for p in people], 10**12)
    for who in people:
        Vault(chain, d.vault).deposit(who, deposit, approve=True)
    settings = OperatorSettings(journal=str(journal), chain_id=d.chain_id, vault=d.vault, token=d.token,
                                operator_address=d.operator, admin_token=ADMIN, mark_max_age_s=10**6,
                                secrets_dir=str(journal.parent / "secrets"))
    return chain, d, people, settings
