"""Round generators shared by every engine's conformance tests."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks


def random_round(
    rng: random.Random,
    *,
    max_orders: int = 16,
    max_levels: int = 16,
    max_quantity: int = 255,
    spread: int = 4,
) -> tuple[Round, list[Order]]:
    """A random round whose limits fall in and around the band (``spread`` ticks beyond it)."""
    levels = rng.randint(1, max_levels)
    band_low = rng.randint(990, 1010)
    reference = band_low + rng.randint(-2, levels + 1)
    n = rng.randint(0, max_orders)
    orders = [
        Order(
            OrderId(f"o{i}"),
            rng.choice((Side.BUY, Side.SELL)),
            Ticks(rng.randint(band_low - spread, band_low + levels - 1 + spread)),
            Lots(rng.randint(1, max_quantity)),
            rng.randint(0, n),  # repeated priorities on purpose: input order breaks ties
        )
        for i in range(n)
    ]
    return Round("TEST-PERP", Ticks(reference), Ticks(band_low), levels), orders


@st.composite
def rounds(
    draw: st.DrawFn,
    max_orders: int = 16,
    max_levels: int = 16,
    max_quantity: int = 255,
) -> tuple[Round, list[Order]]:
    """Hypothesis strategy for rounds (limits in and beyond the band, repeated priorities)."""
    levels = draw(st.integers(1, max_levels))
    band_low = draw(st.integers(-50, 50))
    reference = draw(st.integers(band_low - 3, band_low + levels + 2))
    n = draw(st.integers(0, max_orders))
    orders = [
        Order(
            OrderId(f"o{i}"),
            draw(st.sampled_from((Side.BUY, Side.SELL))),
            Ticks(draw(st.integers(band_low - 3, band_low + levels + 2))),
            Lots(draw(st.integers(1, max_quantity))),
            draw(st.integers(0, 5)),
        )
        for i in range(n)
    ]
    return Round("TEST-PERP", Ticks(reference), Ticks(band_low), levels), orders
