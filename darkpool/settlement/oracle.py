"""On-chain price feeds: Chainlink-style ``AggregatorV3Interface`` contracts the operator reads marks from.

:class:`PriceFeed` reads (and, for the mock that ships with the contracts, posts) answers;
:func:`checked_mark` turns a round's answer into a mark or refuses it with
:class:`~darkpool.errors.BadOracleAnswer`: stale (older than ``max_age_s`` at ``now``), not positive,
or moved more than ``max_move`` (a fraction) from the last good mark.
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
        round_id, answer, _started, updated_at, _answered = self._read("latestRoundData")
        return FeedAnswer(int(round_id), int(answer) / 10 ** self.decimals(), int(answer), int(updated_at))


def checked_mark(underlying: str, answer: FeedAnswer, now: int, max_age_s: int, last_good: float | None,
                 max_move: float) -> float:
    """Return the answer's price as a mark, or raise :class:`BadOracleAnswer` naming what is wrong."""
    if answer.raw <= 0:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} answers {answer.raw}: not a positive price")
    age = now - answer.updated_at
    if age > max_age_s:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} is {age}s old at {now}; at most "
                              f"{max_age_s}s allowed")
    if answer.updated_at > now + max_age_s:
        raise BadOracleAnswer(f"{underlying} feed round {answer.round_id} is stamped {answer.updated_at}, "
                              f"in the future of {now}")
    if last_good is not None and abs(answer.price / last_good - 1) > max_move:
        raise BadOracleAnswer(f"{underlying} feed answers {answer.price}, {abs(answer.price / last_good - 1):.1%} "
                              f"from the last good mark {last_good}; at most {max_move:.1%} allowed")
    return answer.price
