"""On-chain price feeds: Chainlink-style ``AggregatorV3Interface`` contracts the operator reads marks from.

:class:`PriceFeed` reads (and, for the mock that ships with the contracts, posts) answers;
:func:`checked_mark` turns a round's answer into a mark or refuses it with
:class:`~darkpool.errors.BadOracleAnswer`: stale (older than ``max_age_s`` at ``now``), not positive,
or moved more than ``max_move`` (a fraction) from the last good mark, or older than the mark in use.
A good answer's mark is observed at the feed's ``updatedAt`` (never after the operator's now), so a
feed that stops updating goes stale however often the operator reads it.
"""

from __future__ import annotations

from typing import NamedTuple

from darkpool.errors import BadOracleAnswer
from darkpool.settlement.chain import Chain
from darkpool.settlement.contracts import Sender, TxResult, _Wrapper

__all__ = ["FeedAnswer", "PriceFeed", "checked_mark"]


class FeedAnswer(NamedTuple):
    """A feed's latest round: its id, the answer scaled back by the feed's decimals, when it was updated."""

    round_id: int
    price: float
    raw: int
    updated_at: int


class PriceFeed(_Wrapper):
    """An ``AggregatorV3Interface`` price feed (the ``MockAggregator`` of the contracts for tests and the demo)."""

    artifact_name = "MockAggregator"

    @classmethod
    def deploy(cls, chain: Chain, sender: str, description: str, decimals: int = 8) -> PriceFeed:
        """Deploy a mock feed whose owner is ``sender``."""
        return cls(chain, cls._deploy_address(chain, sender, chain.w3.to_checksum_address(sender), decimals,
                                              description))

    def post(self, sender: Sender, price: float, updated_at: int = 0) -> TxResult:
        """Post ``price`` (scaled by the feed's decimals) as a new round (mock only)."""
        return self._send(sender, "postAnswer", round(price * 10 ** self.decimals()), updated_at)

    def post_raw(self, sender: Sender, answer: int, updated_at: int = 0) -> TxResult:
        return self._send(sender, "postAnswer", answer, updated_at)

    def decimals(self) -> int:
        return int(self._read("decimals"))

    def latest(self) -> FeedAnswer:
        """The feed's latest round."""
        return self._answer(self._read("latestRoundData"))

    def round_data(self, round_id: int) -> FeedAnswer:
        """Round ``round_id`` as the feed answers it now (what auditors hold a journaled mark against)."""
        return self._answer(self._read("getRoundData", round_id))

    def _answer(self, raw: tuple[int, int, int, int, int]) -> FeedAnswer:
        round_id, answer, _started, updated_at, _answered = raw
        return FeedAnswer(int(round_id), int(answer) / 10 ** self.decimals(), int(answer), int(updated_at))


def checked_mark(underlying: str, answer: FeedAnswer, now: int, max_age_s: int, last_good: float | None,
                 max_move: float, *, last_at: int | None = None) -> float:
    """Return the answer's price as a mark, or raise :class:`BadOracleAnswer` naming what is wrong.

    ``last_good`` is the price of the mark in use, observed at ``last_at``: an answer stamped before
    it (a feed rolled back, or another feed's older round) cannot replace it.
    """
    if answer.raw <= 0:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} answers {answer.raw}: not a positive price")
    age = now - answer.updated_at
    if age > max_age_s:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} is {age}s old at {now}; at most "
                              f"{max_age_s}s allowed")
    if answer.updated_at > now + max_age_s:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} is stamped {answer.updated_at}, "
                              f"in the future of {now}")
    if last_at is not None and answer.updated_at < last_at:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} is stamped {answer.updated_at}, before the "
                              f"mark in use (observed at {last_at}): an older answer cannot replace it")
    if last_good is not None and abs(answer.price / last_good - 1) > max_move:
        raise BadOracleAnswer(f"{underlying} feed answers {answer.price}, {abs(answer.price / last_good - 1):.1%} "
                              f"from the last good mark {last_good}; at most {max_move:.1%} allowed")
    return answer.price
