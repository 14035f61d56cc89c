"""The mark oracle: timestamped marks, refused once stale."""

from __future__ import annotations

import pytest

from darkpool.domain import Side
from darkpool.errors import MarginError, StaleMark
from darkpool.margin import MarkOracle

from .helpers import T0, addr, engine, trade


def test_get_when_mark_within_max_age_then_returned() -> None:
    oracle = MarkOracle(60)
    oracle.set("ETH", 3000.0, T0)
    assert oracle.get("ETH", T0 + 60).price == 3000.0


def test_get_when_mark_older_than_max_age_then_stale_mark() -> None:
    oracle = MarkOracle(60)
    oracle.set("ETH", 3000.0, T0)
    with pytest.raises(StaleMark, match="61s old"):
        oracle.get("ETH", T0 + 61)


def test_get_when_no_mark_then_margin_error() -> None:
    with pytest.raises(MarginError, match="no mark"):
        MarkOracle(60).get("BTC", T0)


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf"), True])
def test_set_when_price_not_positive_finite_then_rejected(price: float) -> None:
    with pytest.raises(MarginError):
        MarkOracle(60).set("ETH", price, T0)


def test_set_when_older_than_current_then_rejected_and_current_kept() -> None:
    oracle = MarkOracle(60)
    oracle.set("ETH", 3000.0, T0)
    with pytest.raises(MarginError, match="older"):
        oracle.set("ETH", 2000.0, T0 - 1)
    assert oracle.get("ETH", T0).price == 3000.0


def test_engine_when_mark_stale_then_margin_and_caps_and_fills_refused_without_change() -> None:
    e = engine()
    a = addr(1)
    e.deposit(a, 10**9)
    late = T0 + 61
    with pytest.raises(StaleMark):
        e.account_margin(a, late)
    with pytest.raises(StaleMark):
        e.cap(a, "ETH-PERP", Side.BUY, 300_000, late)
    with pytest.raises(StaleMark):
        e.apply_fills([trade(a, "ETH-PERP", Side.BUY, 1, 300_000)], late)
    assert e.positions(a) == []
