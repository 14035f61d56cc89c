"""The round JSON document of DESIGN.md §2: parse it strictly, write results canonically.

Every field the rule needs is required and type-checked. Fields beyond them are ignored, so a
published round (which carries its result and metadata beside ``round`` and ``orders``) can be
replayed as it is; since no field is optional, a misspelt one still fails as missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from darkpool.domain import Lots, Order, OrderId, Round, RoundResult, Side, Ticks
from darkpool.errors import RoundFormatError, ValidationError
from darkpool.jsontext import loads_bounded

__all__ = ["dump_result", "load_round", "parse_round", "round_to_document"]

_ROUND_KEYS = {"instrument": str, "reference_ticks": int, "band_low_ticks": int, "levels": int}
_ORDER_KEYS = {"id": str, "side": str, "limit_ticks": int, "quantity_lots": int, "priority": int}


def _fields(obj: object, where: str, spec: Mapping[str, type]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RoundFormatError(f"{where}: expected an object, got {type(obj).__name__}")
    for name, kind in spec.items():
        if name not in obj:
            raise RoundFormatError(f"{where}: missing field {name!r}")
        value = obj[name]
        # bool is an int in Python but never a valid tick or lot count.
        if isinstance(value, bool) or not isinstance(value, kind):
            raise RoundFormatError(
                f"{where}: field {name!r} must be {'an integer' if kind is int else 'a string'}, "
                f"got {type(value).__name__} {value!r}"
            )
    return obj


def parse_round(document: object) -> tuple[Round, list[Order]]:
    """Validate a decoded round document and return its round and orders."""
    if not isinstance(document, dict):
        raise RoundFormatError(f"round document: expected an object, got {type(document).__name__}")
    for key in ("round", "orders"):
        if key not in document:
            raise RoundFormatError(f"round document: missing field {key!r}")
    r = _fields(document["round"], "round", _ROUND_KEYS)
    if r["levels"] < 1:
        raise RoundFormatError(f"round: field 'levels' must be at least 1, got {r['levels']}")
    if not r["instrument"]:
        raise RoundFormatError("round: field 'instrument' must not be empty")
    round_ = Round(r["instrument"], Ticks(r["reference_ticks"]), Ticks(r["band_low_ticks"]), r["levels"])

    raw_orders = document["orders"]
    if not isinstance(raw_orders, list):
        raise RoundFormatError(f"orders: expected a list, got {type(raw_orders).__name__}")
    orders: list[Order] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_orders):
        o = _fields(raw, f"orders[{i}]", _ORDER_KEYS)
        where = f"orders[{i}] (id {o['id']!r})"
        if not o["id"]:
            raise RoundFormatError(f"orders[{i}]: field 'id' must not be empty")
        if o["id"] in seen:
            raise RoundFormatError(f"{where}: duplicate order id")
        seen.add(o["id"])
        if o["quantity_lots"] <= 0:
            raise RoundFormatError(f"{where}: quantity_lots must be positive, got {o['quantity_lots']}")
        try:
            side = Side.parse(o["side"])
        except ValidationError as exc:
            raise RoundFormatError(f"{where}: {exc}") from None
        orders.append(Order(OrderId(o["id"]), side, Ticks(o["limit_ticks"]), Lots(o["quantity_lots"]), o["priority"]))
    return round_, orders


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a round must not say two things at once.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise RoundFormatError(f"round document: duplicate key {key!r}")
        obj[key] = value
    return obj


MAX_NESTING = 32
"""Deepest JSON nesting a round document may have (it needs 3)."""


def load_round(text: str | bytes) -> tuple[Round, list[Order]]:
    """Parse round JSON text; duplicate keys, over-long integers and deep nesting are refused."""
    document = loads_bounded(text, max_depth=MAX_NESTING, error=RoundFormatError, what="round document",
                             object_pairs_hook=_object_without_duplicates)
    return parse_round(document)


def round_to_document(round_: Round, orders: Sequence[Order]) -> dict[str, Any]:
    """The JSON-ready form of a round, as published for replay."""
    return {
        "round": {
            "instrument": round_.instrument,
            "reference_ticks": round_.reference_ticks,
            "band_low_ticks": round_.band_low_ticks,
            "levels": round_.levels,
        },
        "orders": [
            {"id": o.id, "side": o.side.label, "limit_ticks": o.limit_ticks,
             "quantity_lots": o.quantity_lots, "priority": o.priority}
            for o in orders
        ],
    }


def dump_result(result: RoundResult) -> str:
    """The result JSON of DESIGN.md §2, one line, fills in input order."""
    return json.dumps(result.to_json_dict())
