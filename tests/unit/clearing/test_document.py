"""Strict parsing of the round JSON document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from darkpool.clearing import dump_result, load_round, parse_round, round_to_document
from darkpool.domain import Lots, OrderId, RoundResult, Side, Ticks
from darkpool.errors import RoundFormatError


def _doc(**order_overrides: Any) -> dict[str, Any]:
    order = {"id": "a1", "side": "buy", "limit_ticks": 300004, "quantity_lots": 12, "priority": 1}
    order.update(order_overrides)
    return {
        "round": {"instrument": "ETH-PERP", "reference_ticks": 300000, "band_low_ticks": 299992, "levels": 16},
        "orders": [order],
    }


def test_parse_round_when_valid_returns_round_and_orders() -> None:
    round_, orders = parse_round(_doc())
    assert round_.levels == 16 and round_.band_high_ticks == 300007
    assert orders[0].id == "a1" and orders[0].side is Side.BUY and orders[0].quantity_lots == 12


def test_round_to_document_when_parsed_round_round_trips() -> None:
    doc = _doc()
    assert round_to_document(*parse_round(doc)) == doc


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("orders"), "missing field 'orders'"),
        (lambda d: d["round"].pop("levels"), "missing field 'levels'"),
        (lambda d: d["round"].update(levels=0), "'levels' must be at least 1"),
        (lambda d: d["round"].update(levels="16"), "'levels' must be an integer"),
        (lambda d: d["round"].update(reference_ticks=1.5), "'reference_ticks' must be an integer"),
        (lambda d: d["orders"][0].update(quantity_lots=0), "quantity_lots must be positive"),
        (lambda d: d["orders"][0].update(quantity_lots=-3), "quantity_lots must be positive"),
        (lambda d: d["orders"][0].update(quantity_lots=True), "'quantity_lots' must be an integer"),
        (lambda d: d["orders"][0].update(side="hold"), "side must be 'buy' or 'sell'"),
        (lambda d: d["orders"][0].update(id=7), "'id' must be a string"),
        (lambda d: d["orders"][0].pop("priority"), "missing field 'priority'"),
        (lambda d: d["orders"].append(dict(d["orders"][0])), "duplicate order id"),
        (lambda d: d.update(orders={}), "orders: expected a list"),
    ],
)
def test_parse_round_when_malformed_names_the_problem(mutate: Any, fragment: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(RoundFormatError) as info:
        parse_round(doc)
    assert fragment in str(info.value)


def test_parse_round_when_extra_fields_ignores_them() -> None:
    doc = _doc(account="0x" + "11" * 20)
    doc["result"] = {"price_ticks": None}
    assert parse_round(doc) == parse_round(_doc())


def test_load_round_when_not_json_raises_round_format_error() -> None:
    with pytest.raises(RoundFormatError, match="not valid JSON"):
        load_round("{not json")


def test_dump_result_when_no_trade_writes_null_price() -> None:
    text = dump_result(RoundResult(None, Lots(0), {OrderId("a"): Lots(0)}))
    assert json.loads(text) == {"price_ticks": None, "volume_lots": 0, "fills": {"a": 0}}
    assert dump_result(RoundResult(Ticks(5), Lots(2), {})) == '{"price_ticks": 5, "volume_lots": 2, "fills": {}}'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"round": ' + "9" * 5000 + "}", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"round": {}, "round": {}, "orders": []}', "duplicate key 'round'"),
        (b"\xff", "not valid JSON"),
    ],
)
def test_load_round_when_hostile_text_raises_round_format_error(text: str | bytes, fragment: str) -> None:
    with pytest.raises(RoundFormatError) as info:
        load_round(text)
    assert fragment in str(info.value)
