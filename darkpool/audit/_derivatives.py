"""Audit checks of derivatives through time: marks taken from a price feed are the feed's own rounds;
funding follows the journaled prices and nets to zero at every accrual; expiries settle at a journaled
mark at expiry, options at intrinsic value.

The auditor's own arithmetic, from the journal (marks, clearing prices, funding and expiry entries),
the operator's public instrument list and, with the auditors' token, the batches' fills.
"""

from __future__ import annotations

from typing import Any

from darkpool.audit._check import Check
from darkpool.audit._data import AuditData

__all__ = ["expiries_settle_at_marks", "funding_follows_prices", "marks_match_feeds"]


def funding_follows_prices(data: AuditData) -> Check:
    """Each perpetual funding payment is the clamped premium of the instrument's last clearing price (in the
    journal) over its last journaled mark, per lot, and nets to zero: the open long lots that pay equal the
    open short lots that receive."""
    name = "perpetual funding follows the journaled prices and nets to zero"
    instruments: dict[int, str] = {}
    last_price: dict[str, int] = {}
    marks: dict[str, float] = {}
    underlying = {i["symbol"]: i["underlying"] for i in (data.domain or {}).get("instruments", [])}
    payments = moved = 0
    for e in data.journal:
        if e.is_redacted or e.kind not in ("round_open", "clear", "fhe_result", "mark", "funding"):
            continue
        p = e.data()
        if e.kind == "round_open":
            instruments[p["round_id"]] = p["instrument"]
        elif e.kind in ("clear", "fhe_result") and p["price_ticks"] is not None:
            last_price[instruments[p["round_id"]]] = p["price_ticks"]
        elif e.kind == "mark":
            marks[p["underlying"]] = p["price"]
        else:
            payments += 1
            symbol = p["symbol"]
            index = marks.get(underlying.get(symbol, ""))
            if p["last_price_ticks"] != last_price.get(symbol) or p["index_price"] != index or index is None:
                return Check(name, False, f"funding of {symbol} at {p['at']} used price {p['last_price_ticks']} and "
                                          f"index {p['index_price']}; the journal's were {last_price.get(symbol)} "
                                          f"and {index}")
            premium = (p["last_price_ticks"] * p["tick_size"] - index) / index
            rate = min(p["cap"], max(-p["cap"], premium))
            per_lot = round(rate * index * p["lot_units"])
            if abs(rate - p["rate"]) > 1e-12 or per_lot != p["per_lot"]:
                return Check(name, False, f"funding of {symbol} at {p['at']}: rate {p['rate']} and {p['per_lot']} "
                                          f"per lot, the clamped premium gives {rate} and {per_lot}")
            longs, shorts = p.get("long_lots", 0), p.get("short_lots", 0)
            paid, received = (per_lot * p["intervals"] * lots for lots in (longs, shorts))
            if paid != received:
                return Check(name, False, f"funding of {symbol} at {p['at']}: {longs} long lots pay {paid}, "
                                          f"{shorts} short lots receive {received}: it does not net to zero")
            moved += abs(paid)
    if not payments:
        return Check(name, None, "no funding paid")
    return Check(name, True, f"{payments} funding payment(s) recomputed from the journaled prices; at each, the "
                             f"long lots paying equal the short lots receiving ({moved} base units moved in all)")


def expiries_settle_at_marks(data: AuditData) -> Check:
    """Each expired instrument settled once, after its expiry, at its underlying's mark at expiry as journaled
    (the last mark observed at or before it, or the first after it); every settlement fill in a batch is at
    that mark, futures at it and options at intrinsic value."""
    name = "expiries settle once at the journaled mark at expiry"
    listed = {i["symbol"]: i for i in (data.domain or {}).get("instruments", [])}
    max_age = (data.domain or {}).get("mark_max_age_s")
    observed: dict[str, list[tuple[float, int]]] = {}
    settled: dict[str, int | None] = {}
    for e in data.journal:
        if e.is_redacted or e.kind not in ("mark", "expire"):
            continue
        p = e.data()
        if e.kind == "mark":
            observed.setdefault(p["underlying"], []).append((p["price"], p.get("observed_at") or p["at"]))
            continue
        for k, symbol in enumerate(p["symbols"]):
            instrument = listed.get(symbol)
            if symbol in settled or instrument is None or instrument.get("expiry") is None \
                    or p["at"] < instrument["expiry"]:
                return Check(name, False, f"{symbol} settled at {p['at']}: unknown, not expired yet, or twice")
            if not p.get("prices"):
                continue  # journaled before settlement marks were recorded: settled at the mark then current
            mark = (p["prices"][k], p["marked_at"][k])
            marks = observed.get(instrument["underlying"], [])
            before = [m for m in marks if m[1] <= instrument["expiry"]][-1:]
            after = [m for m in marks if m[1] > instrument["expiry"]][:1]
            if before and max_age is not None:  # the mark in force at expiry, if it was fresh then, else the next
                fresh = instrument["expiry"] - before[0][1] <= max_age
                before, after = (before, []) if fresh else ([], after)
            if mark not in before + after:
                return Check(name, False, f"{symbol} settled at {mark[0]} observed at {mark[1]}: not the journaled "
                                          f"mark of {instrument['underlying']} at its expiry {instrument['expiry']}")
            settled[symbol] = _settlement_ticks(instrument, mark[0])
    if not settled:
        return Check(name, None, "no instrument expired")
    problem = _settlement_fills_problem(data, settled)
    if problem:
        return Check(name, False, problem)
    return Check(name, True, f"{len(settled)} instrument(s) settled once at the journaled mark at expiry")


def _settlement_ticks(instrument: dict[str, Any], underlying_price: float) -> int | None:
    """The ticks ``instrument`` settles at (None when the operator does not publish its tick size)."""
    tick = instrument.get("tick_size")
    if tick is None:
        return None
    spot = round(underlying_price / float(tick))
    strike = instrument.get("strike_ticks")
    if strike is None:
        return spot
    return max(0, spot - int(strike)) if instrument.get("right") == "call" else max(0, int(strike) - spot)


def _settlement_fills_problem(data: AuditData, settled: dict[str, int | None]) -> str | None:
    for record in data.batches:
        for f in record.get("fills") or ():
            if not f["order_id"].startswith("expiry:"):
                continue
            symbol = f["order_id"].split(":")[1]
            if symbol not in settled:
                return f"a settlement fill of {symbol} in batch {record['batch_id']}, which never expired"
            want = settled[symbol]
            if want is not None and f["price_ticks"] != want:
                return (f"{symbol} settlement fill of {f['account']} at {f['price_ticks']} ticks in batch "
                        f"{record['batch_id']}; its mark at expiry gives {want}")
    return None


def marks_match_feeds(data: AuditData) -> Check:
    """Every mark journaled as read from a price feed is that feed's round on chain: the same price, observed
    at the round's ``updatedAt`` (or at the read, if the feed stamped it later)."""
    name = "feed marks are the feeds' rounds on chain"
    marks = [e.data() for e in data.journal if e.kind == "mark" and not e.is_redacted]
    fed = [m for m in marks if m.get("feed") and m.get("feed_round")]
    if not fed:
        return Check(name, None, "no mark read from a price feed")
    if data.chain is None:
        return Check(name, None, f"{len(fed)} feed mark(s); no chain given to read the feeds")
    for m in fed:
        found = data.chain.feed_rounds.get((m["feed"], m["feed_round"]))
        if found is None:
            return Check(name, False, f"mark of {m['underlying']} at {m['at']} names round {m['feed_round']} of "
                                      f"feed {m['feed']}, which the chain does not hold")
        price, updated_at = found
        if (m["price"], m["observed_at"]) != (price, min(updated_at, m["at"])):
            return Check(name, False, f"mark of {m['underlying']} at {m['at']}: {m['price']} observed at "
                                      f"{m['observed_at']}; feed {m['feed']} round {m['feed_round']} answers {price} "
                                      f"stamped {updated_at}")
    return Check(name, True, f"{len(fed)} feed mark(s) equal their rounds on chain")
