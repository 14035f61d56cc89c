"""Perpetual funding: longs pay shorts (or the reverse) the premium of the traded price over the index.

Each interval, for a perpetual whose last clearing price was ``P`` (quote units) and whose oracle
index is ``I``: ``rate = clamp((P - I) / I, -cap, +cap)``, and every long lot pays
``per_lot = round(rate · I · contract_size · collateral_scale)`` base units to the shorts, every
short lot receives it (a negative ``per_lot`` runs the other way). The payment is an integer per
lot and the open lots of an instrument net to zero across accounts (every fill has a buyer and a
seller), so funding is exactly zero-sum: no rounding residue to assign.
"""

from __future__ import annotations

from typing import NamedTuple

from darkpool.domain import Instrument, InstrumentKind
from darkpool.errors import MarginError

__all__ = ["FundingRate", "funding_rate"]


class FundingRate(NamedTuple):
    """One interval's funding of one perpetual: the clamped rate and the base units per long lot."""

    rate: float
    per_lot: int


def funding_rate(instrument: Instrument, last_price_ticks: int, index_price: float, cap: float,
                 collateral_scale: int) -> FundingRate:
    """Return the funding of ``instrument`` for one interval (see the module docstring)."""
    if instrument.kind is not InstrumentKind.PERPETUAL:
        raise MarginError(f"{instrument.symbol} is not a perpetual: it pays no funding")
    if not index_price > 0 or last_price_ticks <= 0:
        raise MarginError(f"funding needs a positive index and last price, got {index_price} and {last_price_ticks}")
    premium = (instrument.price(last_price_ticks) - index_price) / index_price
    rate = min(cap, max(-cap, premium))
    lot_units = instrument.contract_size * collateral_scale  # base units per quote unit of one lot
    return FundingRate(rate, round(rate * index_price * lot_units))
