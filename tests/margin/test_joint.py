"""Joint caps: no combination of one account's fills in a round takes it below initial margin."""

from __future__ import annotations

import itertools

import pytest

from darkpool.domain import Lots, Side, Ticks
from darkpool.margin import CapRequest, joint_caps

from .helpers import T0, addr, engine, mark_ticks

A = addr(7)
PERP = "ETH-PERP"


def _account_affording(lots: int) -> tuple[object, int]:
    """An engine where A can buy about ``lots`` ETH-PERP lots at the mark, and the mark in ticks."""
    e = engine()
    mark = mark_ticks(e, PERP)
    e.deposit(A, 10**9)
    per_lot = (10**9 - e.free_collateral_after(A, PERP, Side.BUY, 100, mark, T0)) // 100
    e = engine()
    e.deposit(A, per_lot * lots + per_lot // 2)
    return e, mark


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_joint_caps_when_five_orders_of_one_account_then_no_subset_of_fills_breaks_initial_margin(side: Side) -> None:
    e, mark = _account_affording(10)
    step = 1 if side is Side.BUY else -1
    limits = [mark + step * k for k in (0, 3, 1, 4, 2)]  # each order alone is affordable: 4 lots
    requests = [CapRequest(A, PERP, side, Ticks(limit), Lots(4)) for limit in limits]
    alone = e.caps(requests, T0)
    assert alone == [4] * 5  # judged alone, the five would let 20 lots trade
    caps = joint_caps(e, requests, T0)
    assert sum(caps) < 20 and caps == sorted(caps, reverse=True)  # allotted in arrival order
    for size in range(1, 6):
        for subset in itertools.combinations(range(5), size):
            filled = sum(caps[i] for i in subset)
            # A buy fills at or below its limit, a sell at or above: the worst price for the account
            # is the least aggressive limit among those that filled.
            worst = min(limits[i] for i in subset) if side is Side.BUY else max(limits[i] for i in subset)
            for price in (worst, worst - 7 * step):
                assert e.free_collateral_after(A, PERP, side, filled, price, T0) >= 0, (subset, price)
    # The orders judged alone do break it: the test can fail.
    assert e.free_collateral_after(A, PERP, side, sum(alone), limits[0], T0) < 0


def test_joint_caps_when_earlier_reveals_allotted_then_they_count_first() -> None:
    e, mark = _account_affording(10)
    first = joint_caps(e, [CapRequest(A, PERP, Side.BUY, Ticks(mark), Lots(8))], T0)
    assert first == [8]
    later = joint_caps(e, [CapRequest(A, PERP, Side.BUY, Ticks(mark), Lots(8))], T0, {(A, Side.BUY): (8, mark)})
    assert 8 + later[0] <= joint_caps(e, [CapRequest(A, PERP, Side.BUY, Ticks(mark), Lots(16))], T0)[0]
    assert later[0] < 8
    other_side = joint_caps(e, [CapRequest(A, PERP, Side.SELL, Ticks(mark), Lots(8))], T0, {(A, Side.BUY): (8, mark)})
    assert other_side == [8]  # the sells have their own budget
