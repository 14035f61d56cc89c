"""The whole protocol in one process: the engine behind ``darkpool clear --engine commit-reveal``."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from commit_reveal._client import Committer, SealedOrder
from commit_reveal._config import CapFn, RoundConfig
from commit_reveal._publication import audit_publication, publish
from commit_reveal._receipts import verify_receipt
from commit_reveal._round import CommitRevealRound
from commit_reveal._schedule import Schedule
from darkpool.domain import Order, Round, RoundResult
from darkpool.errors import ProtocolError
from darkpool.signing import SECP256K1_N, SigningDomain

__all__ = ["InProcessRun", "clear_commit_reveal", "run_in_process"]

_START = 1_800_000_000


def _key(randbytes: Callable[[int], bytes]) -> bytes:
    while True:  # a draw outside 1..n-1 has probability ~2**-128, but is still not a key
        key = randbytes(32)
        if len(key) == 32 and 0 < int.from_bytes(key, "big") < SECP256K1_N:
            return key


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _committable_limit(round_: Round, limit_ticks: int) -> int:
    """``limit_ticks`` within the commitment's int64, without changing where the order is eligible.

    A limit beyond int64 lies beyond the band too, so the nearest int64 is eligible at exactly
    the same levels (every level, or none).
    """
    if _INT64_MIN <= limit_ticks <= _INT64_MAX:
        return limit_ticks
    if round_.band_low_ticks > _INT64_MIN and round_.band_high_ticks < _INT64_MAX:
        return max(_INT64_MIN, min(_INT64_MAX, limit_ticks))
    return limit_ticks  # a band at the edge of int64: let the commitment refuse it


@dataclass(frozen=True, slots=True)
class InProcessRun:
    round: CommitRevealRound
    result: RoundResult
    publication: dict[str, Any]


def run_in_process(
    round_: Round,
    orders: Sequence[Order],
    *,
    randbytes: Callable[[int], bytes] = secrets.token_bytes,
    cap: CapFn | None = None,
    round_id: int = 1,
) -> InProcessRun:
    """Run one round end to end: a fresh key per order, commit, seal, receipts, reveal, clear, audit."""
    clock = [_START]
    domain = SigningDomain(chain_id=31337, verifying_contract="0x" + "d0" * 20)
    schedule = Schedule(_START + 10, _START + 20, _START + 30)
    config = RoundConfig(round_id, round_, domain, schedule, _key(randbytes))
    operator = CommitRevealRound(config, clock=lambda: clock[0], cap=cap)
    sealed: list[SealedOrder] = []
    for order in orders:
        committer = Committer(_key(randbytes), domain, round_.instrument, round_id, randbytes)
        sealed.append(committer.seal(order.side, _committable_limit(round_, order.limit_ticks),
                                     order.quantity_lots, nonce=0, expiry=schedule.commit_closes_at))
    clock[0] = schedule.commit_opens_at
    operator.commit_many([s.signed for s in sealed], order_ids=[o.id for o in orders],
                         priorities=[o.priority for o in orders]).raise_first()
    clock[0] = schedule.commit_closes_at
    operator.seal()
    for s in sealed:  # each committer checks its receipt before it reveals
        verify_receipt(operator.receipt(s.reveal.account, s.reveal.nonce), domain=domain, operator=config.operator)
    operator.reveal_many([s.reveal for s in sealed]).raise_first()
    clock[0] = schedule.reveal_closes_at
    result = operator.clear()
    publication = publish(operator)
    if audit_publication(publication) != result:
        raise ProtocolError("the published round does not replay to the operator's result")
    return InProcessRun(operator, result, publication)


def clear_commit_reveal(round_: Round, orders: Sequence[Order]) -> RoundResult:
    """Clear ``orders`` through the whole commit-reveal protocol; equal to ``clear_reference``."""
    return run_in_process(round_, orders).result
