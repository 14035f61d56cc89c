"""With ``market_poll_s`` set, the operator reads its price feeds and settles expiries on its own."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from darkpool.operator.instruments import DEFAULT_OPTION_EXPIRY
from darkpool.web.serve import ServerThread
from tests.derivatives.helpers import FeedWorld, feed_world


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"the poller never {what}"
        time.sleep(0.02)


def _polling(tmp_path: Path) -> FeedWorld:
    world = feed_world(tmp_path)
    world.config = world.config.model_copy(update={"market_poll_s": 0.05})
    world.start()
    return world


def test_market_poll_when_feeds_move_then_marks_and_expiries_follow_without_an_admin(tmp_path: Path) -> None:
    world = _polling(tmp_path)
    world.post(3200.0)
    with ServerThread(world.app):  # uvicorn runs the app's lifespan, and with it the poller
        _wait(lambda: "mark" in world.kinds(), "journaled the feed's mark")
        (mark,) = [json.loads(e.payload) for e in world.core.journal.entries(0) if e.kind == "mark"]
        assert mark["price"] == 3200.0
        world.clock.now = DEFAULT_OPTION_EXPIRY + 100  # the 3,200 mark is long stale at expiry
        world.post(3300.0, DEFAULT_OPTION_EXPIRY + 90)
        _wait(lambda: "expire" in world.kinds(), "settled the expired options")
        assert {"ETH-3000-C", "ETH-3000-P"} <= world.core.expired
        kinds = world.kinds()
    world.start()  # the stopped server closed its journal: what the poller journaled replays
    assert world.kinds() == kinds and {"ETH-3000-C", "ETH-3000-P"} <= world.core.expired
    world.close()


def test_market_poll_when_feed_answers_badly_then_halts_and_keeps_polling(tmp_path: Path) -> None:
    world = _polling(tmp_path)
    world.post(3200.0)
    with ServerThread(world.app):
        _wait(lambda: "mark" in world.kinds(), "journaled the feed's mark")
        world.feed.post_raw(world.owner, -1, world.clock.now)
        _wait(lambda: "oracle_refused" in world.kinds(), "refused the negative answer")
        assert "ETH" in world.core.halted
        world.post(3210.0)
        _wait(lambda: "ETH" not in world.core.halted, "lifted the halt on a good answer")
    world.close()


class _Hiccup:
    """A feed whose first read fails with an error no adapter translates (as a node library may raise)."""

    def __init__(self, feed: object) -> None:
        self.feed, self.reads = feed, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.feed, name)

    def latest(self) -> object:
        self.reads += 1
        if self.reads == 1:
            raise RuntimeError("the node library's own error")
        return self.feed.latest()  # type: ignore[attr-defined]


def test_market_poll_when_a_read_raises_an_unexpected_error_then_the_poller_lives_on(tmp_path: Path) -> None:
    world = _polling(tmp_path)
    hiccup = _Hiccup(world.core.price_feeds["ETH"])
    world.core.price_feeds["ETH"] = hiccup
    world.post(3200.0)
    with ServerThread(world.app):
        _wait(lambda: "mark" in world.kinds(), "journaled the feed's mark after its error")
    assert hiccup.reads > 1
    world.close()
