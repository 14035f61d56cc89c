"""Deterministic keys, clocks and rounds for the commit-reveal tests."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from commit_reveal import (
    CapFn,
    CommitRevealRound,
    Committer,
    RoundConfig,
    Schedule,
    SealedOrder,
)
from darkpool.domain import Round, Side, Ticks
from darkpool.signing import SigningDomain

DOMAIN = SigningDomain(chain_id=31337, verifying_contract="0x" + "5e" * 20)
MARKET = Round("ETH-PERP", Ticks(300_000), Ticks(299_992), 16)
ROUND_ID = 7
START = 1_800_000_000
SCHEDULE = Schedule(START + 100, START + 200, START + 300)
OPERATOR_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
BOND = 1_000


def key(n: int) -> bytes:
    """The ``n``-th test private key (n >= 1)."""
    return n.to_bytes(32, "big")


def seeded_randbytes(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


@dataclass
class Clock:
    now: int = START

    def __call__(self) -> int:
        return self.now


@dataclass
class Settlement:
    """A stand-in for the vault's ``sealCommitments``: records every call, refuses a second seal."""

    sealed: dict[int, bytes] = field(default_factory=dict)
    fail: bool = False

    def __call__(self, round_id: int, root: bytes) -> None:
        if self.fail:
            raise RuntimeError("chain unavailable")
        assert round_id not in self.sealed
        self.sealed[round_id] = root


def config(bond: int = BOND) -> RoundConfig:
    return RoundConfig(ROUND_ID, MARKET, DOMAIN, SCHEDULE, OPERATOR_KEY, bond_base_units=bond)


def new_round(
    clock: Clock, *, settle: Settlement | None = None, cap: CapFn | None = None, bond: int = BOND
) -> CommitRevealRound:
    return CommitRevealRound(config(bond), clock=clock, settle=settle, cap=cap)


def committer(n: int, *, round_id: int = ROUND_ID, instrument: str = "ETH-PERP",
              domain: SigningDomain = DOMAIN) -> Committer:
    return Committer(key(n), domain, instrument, round_id, seeded_randbytes(n))


def seal_order(n: int, side: Side = Side.BUY, limit: int = 300_004, quantity: int = 10, *, nonce: int = 1,
               expiry: int = START + 1_000, bond: int = BOND, **kwargs: object) -> SealedOrder:
    """Client ``n`` seals an order."""
    return committer(n, **kwargs).seal(side, limit, quantity, nonce=nonce, expiry=expiry, bond=bond)  # type: ignore[arg-type]
