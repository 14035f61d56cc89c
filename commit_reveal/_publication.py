"""The round's publication: everything an auditor needs to replay it, and the replay itself.

After clearing the operator publishes the commitments (every sealed leaf, revealed or not), the
reveals with their salts, its own extra orders (liquidations, which join after every client), the
cleared round in the JSON form of DESIGN.md §2 and the result.
:func:`audit_publication` rebuilds the commitments root, opens every reveal, checks the round
document against the reveals and clears it again with the reference engine.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from commit_reveal._commitment import CommitmentScheme, Reveal, Salt, commitment_leaf
from commit_reveal._round import CommitRevealRound
from darkpool.clearing import clear_reference, parse_round, round_to_document
from darkpool.crypto.merkle import make_tree, parse_hash
from darkpool.domain import Lots, RoundResult, Side, Ticks, account
from darkpool.errors import InvalidProof, InvalidReveal, ValidationError

__all__ = ["audit_publication", "publish"]

FORMAT = "darkpool-commit-reveal-v1"


def publish(round_: CommitRevealRound) -> dict[str, Any]:
    """The JSON-ready publication of a cleared round."""
    result, seal = round_.result, round_.seal_record
    if result is None or seal is None:
        raise ValidationError("only a cleared round can be published")
    commitments, reveals = [], []
    for record in round_.commitments():
        opened = round_.reveal_of((record.account, record.nonce))
        commitments.append({
            "account": record.account, "nonce": record.nonce, "commitment": "0x" + record.commitment.hex(),
            "bond": record.bond, "order_id": record.order_id, "priority": record.priority,
            "revealed": opened is not None,
        })
        if opened is not None:
            reveals.append({
                "account": record.account, "nonce": record.nonce, "side": opened.side.label,
                "limit_ticks": opened.limit_ticks, "quantity_lots": opened.revealed_lots,
                "capped_quantity_lots": opened.quantity_lots, "salt": "0x" + opened.salt.hex(),
            })
    config = round_.config
    return {
        "format": FORMAT,
        "round_id": config.round_id,
        "commitments_root": "0x" + seal.root.hex(),
        "commitments": commitments,
        "reveals": reveals,
        "extra_orders": [{"order_id": o.id, "side": o.side.label, "limit_ticks": o.limit_ticks,
                          "quantity_lots": o.quantity_lots, "priority": o.priority} for o in round_.extra_orders],
        "document": round_to_document(config.market, round_.cleared_orders),
        "result": result.to_json_dict(),
    }


def _field(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name) if isinstance(obj, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValidationError(f"publication: field {name!r} must be {kind.__name__}, got {value!r}")
    return value


def audit_publication(publication: Mapping[str, Any]) -> RoundResult:
    """Check a publication end to end and return the replayed result.

    Raises :class:`InvalidProof` if the commitments do not rebuild the root, the opaque
    :class:`InvalidReveal` if a reveal does not open its commitment, and
    :class:`ValidationError` if the document or the result does not follow from the reveals.
    """
    if _field(publication, "format", str) != FORMAT:
        raise ValidationError(f"publication: expected format {FORMAT!r}")
    round_id = _field(publication, "round_id", int)
    root = parse_hash(_field(publication, "commitments_root", str))
    market, orders = parse_round(publication.get("document"))
    scheme = CommitmentScheme(market.instrument, round_id)
    committed: dict[tuple[str, int], Mapping[str, Any]] = {}
    for entry in _field(publication, "commitments", list):
        key = (account(_field(entry, "account", str)), _field(entry, "nonce", int))
        if key in committed:
            raise ValidationError(f"publication: commitment {key} listed twice")
        committed[key] = entry
    leaves = sorted(commitment_leaf(bytes.fromhex(a[2:]), n, parse_hash(e["commitment"]))
                    for (a, n), e in committed.items())
    rebuilt = make_tree(leaves)[0] if leaves else bytes(32)
    if not hmac.compare_digest(rebuilt, root):
        raise InvalidProof("commitments do not rebuild the sealed root")

    expected_orders = []
    for entry in _field(publication, "reveals", list):
        reveal = Reveal(
            account(_field(entry, "account", str)), _field(entry, "nonce", int),
            Side.parse(entry.get("side")), Ticks(_field(entry, "limit_ticks", int)),
            Lots(_field(entry, "quantity_lots", int)), Salt(parse_hash(_field(entry, "salt", str))),
        )
        sealed = committed.get(reveal.key)
        if sealed is None or not sealed.get("revealed"):
            raise ValidationError(f"publication: reveal {reveal.key} has no revealed commitment")
        if not hmac.compare_digest(scheme.commitment(reveal), parse_hash(sealed["commitment"])):
            raise InvalidReveal("reveal does not open its commitment")
        capped = _field(entry, "capped_quantity_lots", int)
        if not 0 <= capped <= reveal.quantity_lots:
            raise ValidationError(f"publication: capped quantity {capped} exceeds the revealed {reveal.quantity_lots}")
        if capped > 0:
            expected_orders.append((sealed["order_id"], reveal.side, reveal.limit_ticks, capped, sealed["priority"]))
    if sum(1 for e in committed.values() if e.get("revealed")) != len(publication["reveals"]):
        raise ValidationError("publication: revealed flags and reveals disagree")
    last = max((e[4] for e in expected_orders), default=-1)
    for entry in publication.get("extra_orders") or []:
        extra = (_field(entry, "order_id", str), Side.parse(entry.get("side")), _field(entry, "limit_ticks", int),
                 _field(entry, "quantity_lots", int), _field(entry, "priority", int))
        if extra[4] <= last:
            raise ValidationError(f"publication: extra order {extra[0]} does not come after every client")
        expected_orders.append(extra)
    actual = [(o.id, o.side, o.limit_ticks, o.quantity_lots, o.priority) for o in orders]
    if actual != expected_orders:
        raise ValidationError("publication: the round document is not the revealed orders")
    replayed = clear_reference(market, orders)
    if replayed.to_json_dict() != publication.get("result"):
        raise ValidationError("publication: the result does not follow from the revealed orders")
    return replayed
