"""Audit of liquidations in FHE rounds: each is a queued reduce-only order of an account under maintenance.

The operator places the liquidation queue's public orders in FHE slots it takes as liquidator and
journals them (``fhe_liquidations``, public). The auditor checks, from the journal:

- each liquidation's order is an :class:`~darkpool.signing.FheOrder` signed by the operator (the
  address its ``/info`` publishes), for that round and slot, and its digits open the commitment;
- its slot's mask, disclosed (the operator's signed request, the round's custodian's signed delivery,
  the box and the one-off key it was sealed to), opens, and the digits are exactly the published
  order encoded for the round as every client encodes (:mod:`fhe.encoding`) and masked with it;
- with the auditors' token (the margin basis and decrypted sides are private): the account is under
  maintenance when the liquidation was placed and the order is the one the margin rule plans for it
  then (side, limit, quantity up to the circuit's largest), recomputed with the margin library from
  the basis journaled right after the placement (exact cash and positions, the journaled marks, which
  :func:`darkpool.audit._checks.fhe_caps_follow_margin` holds against the journal's); the slot holds
  that account there; a filled slot's decrypted side is the order's side, its fill at most its quantity.

Caps of liquidation slots (their quantity) are checked with every other cap by
:func:`darkpool.audit._checks.fhe_caps_follow_margin`.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from darkpool.audit._check import Check
from darkpool.audit._data import AuditData
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from darkpool.errors import DarkPoolError
from darkpool.signing import FheOrder, SigningDomain, digits_commitment, signed_from_wire, statement_signer
from darkpool.signing.disclosure import disclosed_mask_problem

__all__ = ["fhe_liquidations_follow_margin", "liquidation_caps"]

NAME = "FHE liquidations are the margin queue's reduce-only orders"


def liquidation_caps(data: AuditData) -> dict[int, dict[int, int]]:
    """Per FHE round, each liquidation slot's cap (its quantity), from the public journal."""
    caps: dict[int, dict[int, int]] = {}
    for e in data.journal:
        if e.kind == "fhe_liquidations" and not e.is_redacted:
            payload = e.data()
            caps.setdefault(payload["round_id"], {}).update({int(x[0]): int(x[5]) for x in payload["placed"]})
    return caps


def fhe_liquidations_follow_margin(data: AuditData) -> Check:
    """Every FHE liquidation is signed by the operator and opens its commitment; with the auditors' token, it
    is the order the margin rule plans for an account under maintenance at the round's close."""
    if data.domain is None:
        return Check(NAME, None, "no signing domain given")
    domain = SigningDomain(int(data.domain["chain_id"]), str(data.domain["verifying_contract"]))
    operator = str(data.domain.get("operator", "")).lower()
    placed: list[tuple[int, list[Any]]] = []
    opened: dict[int, dict[str, Any]] = {}
    private: dict[str, dict[int, dict[str, Any]]] = {"fhe_caps": {}, "fhe_sides": {}, "fhe_result": {}}
    redacted = False
    for e in data.journal:
        if e.kind in private:
            if e.is_redacted:
                redacted = True
                continue
            payload = e.data()
            if e.kind != "fhe_caps" or payload["round_id"] not in private["fhe_caps"]:
                private[e.kind][payload["round_id"]] = payload  # a placement's basis: the first one after it
        elif e.kind == "round_open" and not e.is_redacted:
            opened[e.data()["round_id"]] = e.data()
        elif e.kind == "fhe_liquidations" and not e.is_redacted:
            payload = e.data()
            placed.extend((payload["round_id"], row) for row in payload["placed"])
    if not placed:
        return Check(NAME, None, "no liquidation in any FHE round")
    try:
        for rid, row in placed:
            problem = _signed_problem(rid, row, domain, operator) or _mask_problem(rid, row, domain, operator,
                                                                                   opened[rid])
            if problem is None and not redacted:
                problem = _margin_problem(rid, row, private)
            if problem is not None:
                return Check(NAME, False, f"FHE round {rid} slot {row[0]}: {problem}")
    except (DarkPoolError, KeyError, IndexError, TypeError, ValueError) as exc:
        return Check(NAME, False, f"an FHE liquidation does not decode: {exc!r}")
    if redacted:
        return Check(NAME, None, f"{len(placed)} liquidation(s) signed by the operator, encoded as published under "
                                 "the custodian's mask; their margin basis is private: audit with the auditors' token")
    return Check(NAME, True, f"{len(placed)} liquidation(s): signed by the operator, encoded as published under the "
                             "custodian's mask, each the margin rule's reduce-only order of an account under "
                             "maintenance at its round's close")


def _signed_problem(rid: int, row: list[Any], domain: SigningDomain, operator: str) -> str | None:
    slot, digits, salt = int(row[0]), bytes.fromhex(row[7][2:]), bytes.fromhex(row[8][2:])
    signed = signed_from_wire(json.loads(row[6]), FheOrder)
    message = signed.message
    assert isinstance(message, FheOrder)
    signer = statement_signer(signed, domain)
    if not operator or signer != operator or message.account.lower() != operator:
        return f"the liquidation's order is signed by {signer}, not by the operator {operator or '(unknown)'}"
    if (message.round_id, message.slot) != (rid, slot):
        return f"the order is for slot {message.slot} of round {message.round_id}"
    if len(salt) != 32 or not hmac.compare_digest(digits_commitment(digits, salt), message.digits_commitment):
        return "the journaled digits do not open the order's commitment"
    return None


def _mask_problem(rid: int, row: list[Any], domain: SigningDomain, operator: str,
                  announced: dict[str, Any]) -> str | None:
    fhe = announced["fhe"]
    slot = int(row[0])
    round_ = Round(announced["instrument"], Ticks(announced["reference_ticks"]), Ticks(announced["band_low_ticks"]),
                   announced["levels"])
    order = Order(OrderId(row[1]), Side(int(row[3])), Ticks(int(row[4])), Lots(int(row[5])), slot)
    return disclosed_mask_problem(domain, operator, str(fhe.get("custodian", "")), rid, slot, row[9], round_,
                                  (fhe["slots"], fhe["levels"], fhe["quantity_digits"]), order,
                                  bytes.fromhex(row[7][2:]))


def _margin_problem(rid: int, row: list[Any], private: dict[str, dict[int, dict[str, Any]]]) -> str | None:
    from darkpool.margin import engine_from_snapshot

    slot, account, side, limit, quantity = int(row[0]), str(row[2]).lower(), int(row[3]), int(row[4]), int(row[5])
    caps, sides, result = (private[k].get(rid) for k in ("fhe_caps", "fhe_sides", "fhe_result"))
    if result is None:
        return None  # never decrypted (abandoned after a failed evaluation): it traded nothing
    if caps is None:
        return "no margin basis journaled for the round"
    basis = json.loads(caps["basis"])
    if str(basis["slots"].get(str(slot), "")).lower() != account:
        return f"the round's basis gives the slot to {basis['slots'].get(str(slot))}, not {account}"
    engine = engine_from_snapshot(basis["margin"])
    at = int(basis["margin"]["at"])
    planned = {(o.account.lower(), int(o.side), int(o.limit_ticks)): min(int(o.quantity_lots), basis["max_lots"])
               for o in engine.liquidation_orders(at) if o.instrument == basis["instrument"]}
    if planned.get((account, side, limit)) != quantity:
        return (f"{account} is not under maintenance at {at}, or the margin rule plans other orders for it "
                f"({sorted(planned.items())}), not side {side} limit {limit} for {quantity} lots")
    fill = int(result["slot_fills"][slot])
    if fill > quantity:
        return f"filled {fill} lots of a {quantity}-lot liquidation"
    decrypted = None if sides is None else sides["slot_sides"][slot]
    if fill and decrypted != side:
        return f"the circuit decrypted side {decrypted} for a liquidation of side {side}"
    return None
