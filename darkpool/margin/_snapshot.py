"""Snapshots of margin inputs: what a set of accounts' margin is computed from, as plain JSON.

The operator journals one with every FHE round (privately): the instruments, the margin
configuration, the marks and implied volatilities, and each slot holder's exact cash and
positions at the moment the caps were computed. An auditor rebuilds an engine from it
(:func:`engine_from_snapshot`) and recomputes every cap, so a cap the margin rule does not give
is flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from fractions import Fraction
from typing import Any

from darkpool.domain import Account, Instrument, InstrumentKind, OptionRight, Ticks
from darkpool.errors import MarginError
from darkpool.margin._config import MarginConfig
from darkpool.margin._engine import MarginEngine
from darkpool.margin._surface import Smile, VolSurface

__all__ = ["engine_from_snapshot", "margin_snapshot"]


def margin_snapshot(engine: MarginEngine, accounts: Iterable[Account], now: int) -> dict[str, Any]:
    """Return the JSON margin inputs of ``accounts`` at ``now`` (exact cash and position costs)."""
    book = engine._book
    held: dict[str, Any] = {}
    for who in dict.fromkeys(accounts):
        row = book.accounts_index.get(who)
        if row is None:
            held[who] = {"cash": 0, "positions": {}}
            continue
        positions = {}
        for column, instrument in enumerate(engine.instruments):
            lots = int(book.positions[row, column])
            cost = book._exact_cost.get((row, column), Fraction(0))
            if lots or cost:
                positions[instrument.symbol] = [lots, f"{cost.numerator}/{cost.denominator}"]
        held[who] = {"cash": book.cash(row), "positions": positions}
    return {
        "at": now,
        "config": {f.name: getattr(engine.config, f.name) for f in fields(engine.config)},
        "instruments": [_instrument_json(i) for i in engine.instruments],
        "marks": {u: [m.price, m.at] for u, m in sorted(engine._oracle._marks.items())},
        "vols": dict(sorted(engine._vols.items())),
        "surfaces": {u: [[s.expiry, s.atm, s.skew, s.curvature] for s in surface.smiles]
                     for u, surface in sorted(engine.vol_surfaces.items())},
        "accounts": held,
    }


def engine_from_snapshot(snapshot: Mapping[str, Any]) -> MarginEngine:
    """Rebuild a margin engine holding exactly the snapshot's accounts, marks and volatilities."""
    try:
        settings: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in snapshot["config"].items()}
        config = MarginConfig(**settings)
        instruments = [_instrument(raw) for raw in snapshot["instruments"]]
        engine = MarginEngine(instruments, config, snapshot["vols"])
        for underlying, (price, at) in snapshot["marks"].items():
            engine.set_mark(underlying, price, int(at))
        for underlying, smiles in snapshot.get("surfaces", {}).items():
            engine.set_vol_surface(underlying, VolSurface.of([Smile(int(e), a, s, c) for e, a, s, c in smiles]))
        book = engine._book
        for who, held in snapshot["accounts"].items():
            row = book.row(Account(who), create=True)
            book.collateral[row] = int(held["cash"])
            book.cash_changed(row)
            for symbol, (lots, cost) in held["positions"].items():
                column = book.column(symbol)
                exact = Fraction(cost)
                book._exact_cost[(row, column)] = exact
                book._pos[column, row] = int(lots)
                book._cost[column, row] = float(exact)
            engine._dirty.add(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise MarginError(f"margin snapshot does not decode: {exc!r}") from None
    return engine


def _instrument_json(i: Instrument) -> dict[str, Any]:
    return {"symbol": i.symbol, "kind": i.kind.value, "underlying": i.underlying, "tick_size": i.tick_size,
            "lot_size": i.lot_size, "multiplier": i.multiplier, "expiry": i.expiry,
            "strike_ticks": i.strike_ticks, "right": None if i.right is None else i.right.value}


def _instrument(raw: Mapping[str, Any]) -> Instrument:
    return Instrument(raw["symbol"], InstrumentKind(raw["kind"]), raw["underlying"], raw["tick_size"],
                      raw["lot_size"], raw["multiplier"], raw["expiry"],
                      None if raw["strike_ticks"] is None else Ticks(raw["strike_ticks"]),
                      None if raw["right"] is None else OptionRight(raw["right"]))
