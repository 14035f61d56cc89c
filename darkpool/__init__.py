"""darkpool: a privacy-preserving dark pool.

The core (domain, clearing, margin, ledger) imports nothing from ``fhe``, ``commit_reveal``,
FastAPI, httpx or web3; adapters sit at the edges.
"""

from darkpool.domain import (
    Account,
    BaseUnits,
    Fill,
    Instrument,
    InstrumentKind,
    Lots,
    OptionRight,
    Order,
    OrderId,
    Round,
    RoundResult,
    Side,
    Ticks,
)
from darkpool.errors import DarkPoolError

__all__ = [
    "Account",
    "BaseUnits",
    "DarkPoolError",
    "Fill",
    "Instrument",
    "InstrumentKind",
    "Lots",
    "OptionRight",
    "Order",
    "OrderId",
    "Round",
    "RoundResult",
    "Side",
    "Ticks",
]

__version__ = "0.1.0"
