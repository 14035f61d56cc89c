"""Shared instruments and engines for the margin tests."""

from __future__ import annotations

from darkpool.domain import Account, Fill, Instrument, InstrumentKind, Lots, OptionRight, OrderId, Side, Ticks, account
from darkpool.margin import MarginConfig, MarginEngine

T0 = 1_700_000_000
DAY = 86_400
SCALE = 10**6
SPOT = 3000.0


def perp(symbol: str = "ETH-PERP") -> Instrument:
    return Instrument(symbol, InstrumentKind.PERPETUAL, "ETH", tick_size=0.01, lot_size=0.001)


def future(days: int, symbol: str | None = None) -> Instrument:
    return Instrument(symbol or f"ETH-F{days}", InstrumentKind.FUTURE, "ETH", 0.01, 0.001, expiry=T0 + days * DAY)


def option(strike: float, right: OptionRight, days: int) -> Instrument:
    return Instrument(
        f"ETH-{days}D-{int(strike)}-{right.value[0].upper()}", InstrumentKind.OPTION, "ETH", 0.01, 0.001,
        expiry=T0 + days * DAY, strike_ticks=Ticks(round(strike * 100)), right=right,
    )


INSTRUMENTS = (
    perp(),
    future(90),
    option(3000, OptionRight.CALL, 30),
    option(3000, OptionRight.PUT, 30),
    option(3000, OptionRight.CALL, 90),
    option(3600, OptionRight.CALL, 30),
    option(2400, OptionRight.PUT, 30),
    Instrument("BTC-PERP", InstrumentKind.PERPETUAL, "BTC", tick_size=0.1, lot_size=0.0001),
    Instrument(
        "BTC-30D-60000-C", InstrumentKind.OPTION, "BTC", 0.1, 0.0001, expiry=T0 + 30 * DAY,
        strike_ticks=Ticks(600_000), right=OptionRight.CALL,
    ),
)
BTC_SPOT = 60_000.0
VOLS = {i.symbol: 0.6 for i in INSTRUMENTS if i.is_option}


def engine(config: MarginConfig | None = None, spot: float = SPOT) -> MarginEngine:
    e = MarginEngine(INSTRUMENTS, config, implied_vols=VOLS)
    e.set_mark("ETH", spot, T0)
    e.set_mark("BTC", BTC_SPOT, T0)
    return e


def addr(n: int) -> Account:
    return account(f"0x{n:040x}")


def mark_ticks(e: MarginEngine, symbol: str) -> int:
    """Return the instrument's mark in ticks, rounded to nearest."""
    column = [i.symbol for i in e.instruments].index(symbol)
    inst = e.instruments[column]
    return round(float(e.risk(T0).mark_price[column]) / inst.tick_size)


def trade(holder: Account, symbol: str, side: Side, lots: int, price: int, round_id: int = 1) -> Fill:
    """Return a round's fill of ``lots`` on ``symbol`` for ``holder`` at ``price`` ticks."""
    order_id = OrderId(f"{holder}:{symbol}:{side.label}")
    return Fill(round_id, order_id, holder, symbol, side, Lots(lots), Ticks(price))
