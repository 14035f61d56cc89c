"""Extreme int64 values against every clearing API: each must give the reference engine's answer.

Issue 16, failure 1: a limit of ``-2**63`` wrapped ``np.abs`` in the vectorized engine's range
check and cleared a seller against nobody; two buys of ``2**62`` wrapped the quantity sum and
turned a 5-lot trade into "no trade". Every case here goes through ``clear_reference`` (the
oracle, Python integers), ``clear_vectorized``, ``clear_arrays``, the round document and the
``darkpool clear`` command, and every fill must have a counterparty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpool.clearing import (
    OrderArrays,
    clear_arrays,
    clear_reference,
    clear_vectorized,
    dump_result,
    load_round,
    round_to_document,
)
from darkpool.cli import app
from darkpool.domain import Lots, Order, OrderId, Round, RoundResult, Side, Ticks
from tests.conformance.suite import check_invariants

pytestmark = pytest.mark.attack

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
BUY, SELL = Side.BUY, Side.SELL


def _orders(*specs: tuple[Side, int, int, int]) -> list[Order]:
    return [Order(OrderId(f"o{i}"), side, Ticks(limit), Lots(qty), priority)
            for i, (side, limit, qty, priority) in enumerate(specs)]


def _round(reference: int, band_low: int, levels: int) -> Round:
    return Round("EXTREME", Ticks(reference), Ticks(band_low), levels)


def _fits_int64(orders: Sequence[Order]) -> bool:
    return all(INT64_MIN <= v <= INT64_MAX for o in orders for v in (o.limit_ticks, o.quantity_lots, o.priority))


def assert_every_engine_agrees(round_: Round, orders: Sequence[Order]) -> RoundResult:
    """Clear through every in-process API; all equal the reference; the invariants hold."""
    expected = clear_reference(round_, orders)
    check_invariants(round_, orders, expected)
    assert clear_vectorized(round_, orders) == expected
    if _fits_int64(orders):
        arrays = clear_arrays(round_, OrderArrays.from_orders(orders))
        assert (arrays.price_ticks, arrays.volume_lots) == (expected.price_ticks, expected.volume_lots)
        assert arrays.fills.tolist() == list(expected.fills.values())
    replayed_round, replayed_orders = load_round(json.dumps(round_to_document(round_, orders)))
    assert (replayed_round, replayed_orders) == (round_, list(orders))
    assert dump_result(clear_vectorized(replayed_round, replayed_orders)) == dump_result(expected)
    return expected


# (name, round, orders): each was wrong, or one arithmetic slip from wrong, before the fix.
CASES = [
    ("probe: buy limit -2**63 against an in-band sell trades nothing",
     _round(100, 96, 8), _orders((BUY, INT64_MIN, 3, 1), (SELL, 90, 3, 2))),
    ("probe: two buys of 2**62 against a 5-lot sell trade 5",
     _round(100, 96, 8), _orders((BUY, 200, 2**62, 1), (BUY, 200, 2**62, 2), (SELL, 90, 5, 3))),
    ("sell limit +2**63-1 is eligible nowhere, buy limit -2**63 nowhere",
     _round(0, -4, 8), _orders((BUY, INT64_MIN, 7, 0), (SELL, INT64_MAX, 7, 1), (BUY, 3, 2, 2), (SELL, -3, 2, 3))),
    ("limits at both int64 ends on the eligible side trade everywhere",
     _round(0, -4, 8), _orders((BUY, INT64_MAX, INT64_MAX, 0), (SELL, INT64_MIN, INT64_MAX, 1))),
    ("demand and supply past 2**63: rationed by priority over Python ints",
     _round(10, 0, 16), _orders(*[(BUY, 15, INT64_MAX, p) for p in (3, 1, 4, 1)],
                                *[(SELL, 0, INT64_MAX, p) for p in (5, 9, 2)])),
    ("one lot short of int64 on each side, plus one more lot",
     _round(0, 0, 1), _orders((BUY, 0, INT64_MAX, 0), (BUY, 0, 1, 1), (SELL, 0, INT64_MAX, 2))),
    ("a total of exactly 2**63 across many orders",
     _round(0, 0, 2), _orders(*[(BUY, 1, 2**60, i) for i in range(8)], (SELL, 0, 3, 8))),
    ("band at the top of int64 (band_high + 1 is past it)",
     _round(INT64_MAX, INT64_MAX - 3, 4),
     _orders((BUY, INT64_MAX, 5, 0), (SELL, INT64_MAX - 2, 4, 1), (SELL, INT64_MIN, 2, 2))),
    ("band at the bottom of int64 (band_low - 1 is past it)",
     _round(INT64_MIN, INT64_MIN, 4),
     _orders((BUY, INT64_MIN + 2, 5, 0), (SELL, INT64_MIN, 4, 1), (BUY, INT64_MAX, 2**62, 2))),
    ("band wholly beyond int64: int64 sells are eligible everywhere, buys nowhere",
     _round(2**64, 2**64, 3), _orders((BUY, INT64_MAX, 5, 0), (SELL, INT64_MIN, 4, 1), (SELL, 0, 1, 2))),
    ("band wholly below int64",
     _round(-(2**64), -(2**64), 3), _orders((BUY, INT64_MIN, 5, 0), (SELL, INT64_MIN, 4, 1))),
    ("reference 2**63 ticks away from the band",
     _round(INT64_MIN, 2**62, 4), _orders((BUY, 2**62 + 3, 5, 0), (SELL, 2**62, 5, 1))),
    ("priorities at both int64 ends, unsorted",
     _round(0, 0, 1), _orders((BUY, 0, 4, INT64_MAX), (BUY, 0, 4, INT64_MIN), (BUY, 0, 4, 0), (SELL, 0, 6, 1))),
    ("limits and quantities beyond int64 (the Order API only)",
     _round(0, -2, 4), _orders((BUY, 2**70, 2**64, 0), (SELL, -(2**70), 3, 2**65), (SELL, 1, 2**63, -(2**64)))),
]


@pytest.mark.parametrize(("round_", "orders"), [pytest.param(r, o, id=name) for name, r, o in CASES])
def test_clear_when_values_extreme_every_engine_equals_reference(round_: Round, orders: list[Order]) -> None:
    assert_every_engine_agrees(round_, orders)


def test_clear_vectorized_when_buy_limit_is_int64_min_leaves_no_seller_unmatched() -> None:
    result = clear_vectorized(_round(100, 96, 8), _orders((BUY, INT64_MIN, 3, 1), (SELL, 90, 3, 2)))
    assert result.price_ticks is None and result.volume_lots == 0
    assert set(result.fills.values()) == {0}


def test_clear_arrays_when_quantities_sum_past_int64_trades_the_smaller_side() -> None:
    round_ = _round(100, 96, 8)
    arrays = OrderArrays.from_orders(_orders((BUY, 200, 2**62, 1), (BUY, 200, 2**62, 2), (SELL, 90, 5, 3)))
    result = clear_arrays(round_, arrays)
    assert (result.price_ticks, result.volume_lots, result.fills.tolist()) == (100, 5, [5, 0, 5])


def test_clear_arrays_when_volume_passes_int64_reports_it_exactly() -> None:
    orders = _orders(*[(BUY, 0, INT64_MAX, i) for i in range(3)], *[(SELL, 0, INT64_MAX, 3 + i) for i in range(3)])
    result = clear_arrays(_round(0, 0, 1), OrderArrays.from_orders(orders))
    assert result.volume_lots == 3 * INT64_MAX
    assert result.fills.tolist() == [INT64_MAX] * 6


def test_clear_arrays_when_many_random_extreme_orders_equals_reference() -> None:
    rng = np.random.default_rng(16)
    n = 2_000
    arrays = OrderArrays(
        is_buy=rng.random(n) < 0.5,
        limit_ticks=rng.integers(INT64_MIN, INT64_MAX, n, dtype=np.int64, endpoint=True),
        quantity_lots=rng.integers(1, INT64_MAX, n, dtype=np.int64, endpoint=True),
        priority=rng.integers(INT64_MIN, INT64_MAX, n, dtype=np.int64, endpoint=True),
    )
    # Half the limits land near the band so the round trades.
    arrays.limit_ticks[::2] = rng.integers(-12, 12, n // 2, dtype=np.int64)
    orders = [Order(OrderId(f"o{i}"), BUY if b else SELL, Ticks(p), Lots(q), r) for i, (b, p, q, r) in enumerate(
        zip(arrays.is_buy.tolist(), arrays.limit_ticks.tolist(), arrays.quantity_lots.tolist(),
            arrays.priority.tolist(), strict=True))]
    round_ = _round(3, -8, 16)
    expected = clear_reference(round_, orders)
    assert expected.volume_lots > INT64_MAX  # the case under test: curves past int64
    result = clear_arrays(round_, arrays)
    assert (result.price_ticks, result.volume_lots) == (expected.price_ticks, expected.volume_lots)
    assert result.fills.tolist() == list(expected.fills.values())
    check_invariants(round_, orders, expected)


runner = CliRunner()

# The probe's CLI inputs and more: every value a valid int64, so every engine must accept them.
CLI_CASES = [(name, r, o) for name, r, o in CASES
             if _fits_int64(o) and all(INT64_MIN <= v <= INT64_MAX
                                       for v in (r.reference_ticks, r.band_low_ticks, r.band_high_ticks))]


@pytest.mark.parametrize(("round_", "orders"), [pytest.param(r, o, id=name) for name, r, o in CLI_CASES])
def test_darkpool_clear_when_values_extreme_every_engine_prints_reference_result(
    round_: Round, orders: list[Order]
) -> None:
    document = json.dumps(round_to_document(round_, orders))
    expected = dump_result(clear_reference(round_, orders))
    for engine in ("reference", "vectorized", "commit-reveal"):
        result = runner.invoke(app, ["clear", "--engine", engine, "-"], input=document)
        assert result.exit_code == 0, (engine, result.output)
        assert result.stdout.strip() == expected, engine
