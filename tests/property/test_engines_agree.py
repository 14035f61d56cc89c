"""Hypothesis: the vectorized engine equals the reference on random rounds; invariants hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.clearing import OrderArrays, clear_arrays, clear_reference, clear_vectorized, curves
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from tests.conformance.rounds import rounds
from tests.conformance.suite import check_invariants


@given(rounds())
@settings(max_examples=400)
def test_vectorized_when_random_round_equals_reference(case: tuple[Round, list[Order]]) -> None:
    round_, orders = case
    assert clear_vectorized(round_, orders) == clear_reference(round_, orders)


@given(rounds(max_orders=40, max_levels=6, max_quantity=5))
@settings(max_examples=300)
def test_reference_when_random_round_satisfies_invariants(case: tuple[Round, list[Order]]) -> None:
    round_, orders = case
    check_invariants(round_, orders, clear_reference(round_, orders))


@given(rounds(max_orders=30, max_levels=8, max_quantity=6))
@settings(max_examples=300)
def test_reference_when_trading_picks_best_key_of_all_levels(case: tuple[Round, list[Order]]) -> None:
    round_, orders = case
    result = clear_reference(round_, orders)
    levels = curves(round_, orders)
    best_volume = max(c.volume_lots for c in levels)
    if best_volume == 0:
        assert result.price_ticks is None
        return
    chosen = next(c for c in levels if c.price_ticks == result.price_ticks)
    assert chosen.volume_lots == best_volume
    for c in levels:
        if c.volume_lots == best_volume and c.price_ticks != chosen.price_ticks:
            imbalance = abs(c.demand_lots - c.supply_lots)
            chosen_imbalance = abs(chosen.demand_lots - chosen.supply_lots)
            assert imbalance >= chosen_imbalance
            if imbalance == chosen_imbalance:
                distance = abs(c.price_ticks - round_.reference_ticks)
                chosen_distance = abs(chosen.price_ticks - round_.reference_ticks)
                assert distance >= chosen_distance
                if distance == chosen_distance:
                    assert c.price_ticks > chosen.price_ticks


@given(st.lists(st.integers(1, 2**61), min_size=2, max_size=6))
def test_vectorized_when_quantities_exceed_int64_sums_falls_back_exactly(quantities: list[int]) -> None:
    round_ = Round("BIG", Ticks(0), Ticks(0), 2)
    orders = [Order(OrderId(f"o{i}"), Side(i % 2), Ticks(i % 2), Lots(q), i) for i, q in enumerate(quantities)]
    assert clear_vectorized(round_, orders) == clear_reference(round_, orders)


def test_clear_arrays_when_priorities_unsorted_rations_by_priority() -> None:
    round_ = Round("T", Ticks(10), Ticks(10), 1)
    orders = [
        Order(OrderId("late"), Side.BUY, Ticks(10), Lots(5), 9),
        Order(OrderId("early"), Side.BUY, Ticks(10), Lots(5), 1),
        Order(OrderId("s"), Side.SELL, Ticks(10), Lots(6), 0),
    ]
    result = clear_arrays(round_, OrderArrays.from_orders(orders))
    assert result.fills.tolist() == [1, 5, 6]
