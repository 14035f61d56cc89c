"""The instruments an operator lists by default: an ETH perpetual and ETH European options."""

from __future__ import annotations

from darkpool.domain import Instrument, InstrumentKind, OptionRight, Ticks

__all__ = ["DEFAULT_OPTION_EXPIRY", "DEFAULT_VOLS", "default_instruments"]

DEFAULT_OPTION_EXPIRY = 1_830_000_000
"""2027-12-27 UTC: far enough ahead for the demo's options to be live."""
DEFAULT_VOLS = {"ETH-3000-C": 0.6, "ETH-3000-P": 0.6}


def default_instruments(option_expiry: int = DEFAULT_OPTION_EXPIRY) -> tuple[Instrument, ...]:
    """Return ETH-PERP and 3000-strike call and put on ETH; prices in cents (0.01 ticks), lots of 0.01 ETH."""
    return (
        Instrument("ETH-PERP", InstrumentKind.PERPETUAL, "ETH", tick_size=0.01, lot_size=0.01),
        Instrument("ETH-3000-C", InstrumentKind.OPTION, "ETH", tick_size=0.01, lot_size=0.01,
                   expiry=option_expiry, strike_ticks=Ticks(300_000), right=OptionRight.CALL),
        Instrument("ETH-3000-P", InstrumentKind.OPTION, "ETH", tick_size=0.01, lot_size=0.01,
                   expiry=option_expiry, strike_ticks=Ticks(300_000), right=OptionRight.PUT),
    )
