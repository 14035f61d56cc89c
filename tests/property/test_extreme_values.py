"""Hypothesis: on extreme-valued rounds every clearing API equals the reference engine.

Values are drawn from the int64 edges (and past them for the ``Order`` API), from near the band
and from anywhere: limits far outside the band, quantities whose sums pass ``2**63``, bands and
references at or beyond the int64 range, priorities at both ends.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from tests.attack.test_clearing_extremes import assert_every_engine_agrees

pytestmark = pytest.mark.attack

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EDGES = [INT64_MIN, INT64_MIN + 1, -(2**62), -1, 0, 1, 2**53, 2**53 + 1, 2**62, INT64_MAX - 1, INT64_MAX]
BEYOND = [INT64_MIN - 1, INT64_MAX + 1, -(2**70), 2**70]


@st.composite
def extreme_rounds(draw: st.DrawFn, beyond_int64: bool = False) -> tuple[Round, list[Order]]:
    """A round whose band, reference, limits, quantities and priorities mix edges and ordinary values."""
    wide = st.sampled_from(EDGES + BEYOND if beyond_int64 else EDGES) | st.integers(INT64_MIN, INT64_MAX)
    levels = draw(st.integers(1, 8))
    band_low = draw(st.integers(-20, 20) | wide | st.sampled_from([INT64_MAX - 3, INT64_MIN, 2**64, -(2**64)]))
    near = st.integers(band_low - 2, band_low + levels + 1)
    reference = draw(near | wide)
    quantity = st.integers(1, 8) | st.sampled_from([2**53, 2**62, 2**62 + 1, INT64_MAX]) | st.integers(1, INT64_MAX)
    if beyond_int64:
        quantity |= st.sampled_from([INT64_MAX + 1, 2**70])
    n = draw(st.integers(0, 10))
    orders = [
        Order(
            OrderId(f"o{i}"),
            draw(st.sampled_from((Side.BUY, Side.SELL))),
            Ticks(draw(near | near | wide)),
            Lots(draw(quantity)),
            draw(st.integers(0, 4) | wide),
        )
        for i in range(n)
    ]
    return Round("EXTREME", Ticks(reference), Ticks(band_low), levels), orders


@given(extreme_rounds())
@settings(max_examples=400)
def test_engines_when_int64_extreme_round_equal_reference(case: tuple[Round, list[Order]]) -> None:
    assert_every_engine_agrees(*case)


@given(extreme_rounds(beyond_int64=True))
@settings(max_examples=200)
def test_engines_when_values_pass_int64_equal_reference(case: tuple[Round, list[Order]]) -> None:
    assert_every_engine_agrees(*case)
