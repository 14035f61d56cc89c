"""Cash settlement at expiry: futures at the underlying's mark at expiry, European options at intrinsic value.

Every position in an expired instrument closes at one settlement price in whole ticks, without a
fee. The underlying's price is rounded to the instrument's tick first and the strike is a whole
number of ticks, so an option's intrinsic value is exact in ticks. Closing realizes
``floor(lots · price · tick_value - cost)``, what a closing fill at that price realizes
(:func:`~darkpool.margin._book.apply_fill_to_position`), so the fills and the book agree.
"""

from __future__ import annotations

import math

from darkpool.domain import Instrument, OptionRight, Ticks
from darkpool.errors import MarginError

__all__ = ["settlement_ticks"]


def settlement_ticks(instrument: Instrument, underlying_price: float) -> Ticks:
    """Return the ticks ``instrument`` settles at when its underlying's mark at expiry is ``underlying_price``."""
    if instrument.expiry is None:
        raise MarginError(f"{instrument.symbol} has no expiry: it never settles")
    if isinstance(underlying_price, bool) or not isinstance(underlying_price, (int, float)) \
            or not math.isfinite(underlying_price) or underlying_price <= 0:
        raise MarginError(f"settlement mark of {instrument.symbol} must be a positive finite price, "
                          f"got {underlying_price!r}")
    spot = int(instrument.to_ticks(underlying_price))
    if not instrument.is_option:
        return Ticks(spot)
    strike = int(instrument.strike_ticks or 0)
    return Ticks(max(0, spot - strike) if instrument.right is OptionRight.CALL else max(0, strike - spot))
