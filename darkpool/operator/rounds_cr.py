"""Commit-reveal rounds on the operator: commit, seal (root on chain), reveal, cap and clear.

Each function checks the request against the core's state under its lock, raising before anything
changes, then journals and applies it (see :mod:`darkpool.operator.apply`).
"""

from __future__ import annotations

import hmac
from typing import Any

from commit_reveal import LEAF_ENCODING, CommitmentScheme, Reveal, Salt
from darkpool.clearing import clear_vectorized, round_to_document
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.domain import Account, Lots, Order, OrderId, Side, Ticks, account
from darkpool.errors import InvalidReveal, NotFound, PolicyViolation, ValidationError
from darkpool.ledger import Appended
from darkpool.operator.core import OperatorCore
from darkpool.operator.rounds import Mode, Phase, RoundState, require
from darkpool.signing import Commitment, Signed, signed_to_wire

__all__ = ["clear_round", "commit", "reveal", "seal"]


def _round(core: OperatorCore, round_id: int, phase: Phase) -> RoundState:
    return require(core.get_round(round_id), Mode.COMMIT_REVEAL, phase)


def commit(core: OperatorCore, signed: Signed) -> Appended:
    """Accept a signed commitment with its bond into a round in its commit phase."""
    message = signed.message
    if not isinstance(message, Commitment):
        raise ValidationError("expected a Commitment message")
    with core.lock:
        state = _round(core, message.round_id, Phase.COMMIT)
        if message.instrument != state.round.instrument:
            raise ValidationError(f"round {message.round_id} trades {state.round.instrument}, "
                                  f"not {message.instrument}")
        signer = Account(core.verifier.check(signed))
        free = core.free_balance(signer)
        if message.bond > free:
            raise PolicyViolation(f"bond {message.bond} exceeds the free balance {free} of {signer}")
        return core._accept("commit", {"round_id": message.round_id, "signed": signed_to_wire(signed),
                                       "at": core.now()})


def seal(core: OperatorCore, round_id: int) -> Appended:
    """Close the commit phase: post the commitments root on chain, then open reveals."""
    with core.lock:
        state = _round(core, round_id, Phase.COMMIT)
        leaves = [(c.account, c.nonce, c.commitment) for c in state.commitments.values()]
        root = StandardMerkleTree.of([(a, n, "0x" + c.hex()) for a, n, c in leaves], LEAF_ENCODING).root \
            if leaves else None
        tx = None
        if root is not None and core.settler is not None:
            tx = core.settler.seal_round(round_id, root)
        return core._accept("seal", {"round_id": round_id, "commitments_root": root, "tx": tx, "at": core.now()})


def reveal(core: OperatorCore, round_id: int, holder: str, nonce: int, side: int, limit_ticks: int,
           quantity_lots: int, salt: bytes) -> Appended:
    """Open a commitment of the round; a reveal that does not open it raises the opaque InvalidReveal."""
    with core.lock:
        state = _round(core, round_id, Phase.REVEAL)
        who = account(holder)
        committed = state.commitments.get((who, nonce))
        if committed is None:
            raise NotFound(f"no commitment of {who} with nonce {nonce} in round {round_id}")
        if (who, nonce) in state.reveals:
            raise PolicyViolation(f"commitment {nonce} of {who} was already revealed")
        if side not in (0, 1) or quantity_lots < 1 or len(salt) != 32:
            raise ValidationError("reveal needs side 0/1, quantity_lots >= 1 and a 32-byte salt")
        try:
            opening = Reveal(who, nonce, Side(side), Ticks(limit_ticks), Lots(quantity_lots), Salt(salt))
        except ValidationError as exc:
            raise ValidationError(f"reveal fields do not fit their ABI types: {exc}") from None
        opened = CommitmentScheme(state.round.instrument, round_id).commitment(opening)
        if not hmac.compare_digest(committed.commitment, opened):
            raise InvalidReveal("reveal does not open its commitment")
        return core._accept("reveal", {
            "round_id": round_id, "account": who, "nonce": nonce, "side": side, "limit_ticks": limit_ticks,
            "quantity_lots": quantity_lots, "salt": "0x" + salt.hex(), "at": core.now()})


def clear_round(core: OperatorCore, round_id: int) -> tuple[Appended, dict[str, Any]]:
    """Cap revealed orders by margin, add the liquidation queue's reduce-only orders, clear, forfeit bonds.

    Liquidation orders of the round's instrument (accounts under maintenance margin, sized by the
    margin engine to restore health) join after every revealed order in time priority, so they
    never displace a client; they are published in ``requested`` with ``"liquidation": true``.
    """
    with core.lock:
        state = _round(core, round_id, Phase.REVEAL)
        now = core.now()
        r = state.round
        requested: dict[str, dict[str, Any]] = {}
        orders: list[Order] = []
        owners: dict[str, tuple[Account, int]] = {}
        last_priority = 0
        for rev in sorted(state.reveals.values(), key=lambda x: state.commitments[(x.account, x.nonce)].seq):
            side = Side(rev.side)
            worst = min(max(rev.limit_ticks, r.band_low_ticks), r.band_high_ticks)
            cap = int(core.margin.cap(rev.account, r.instrument, side, max(0, worst), now,
                                      max_lots=rev.quantity_lots))
            requested[rev.order_id] = {"requested_lots": rev.quantity_lots, "cap_lots": cap}
            priority = state.commitments[(rev.account, rev.nonce)].seq
            last_priority = max(last_priority, priority)
            owners[rev.order_id] = (rev.account, rev.side)
            if cap > 0:
                orders.append(Order(OrderId(rev.order_id), side, Ticks(rev.limit_ticks), Lots(cap), priority))
        liquidations = [o for o in core.margin.liquidation_orders(now) if o.instrument == r.instrument]
        for k, liquidation in enumerate(liquidations, start=1):
            oid = OrderId(f"liquidation:{round_id}:{k}:{liquidation.account}")
            requested[oid] = {"requested_lots": int(liquidation.quantity_lots),
                              "cap_lots": int(liquidation.quantity_lots), "liquidation": True}
            owners[oid] = (liquidation.account, int(liquidation.side))
            orders.append(liquidation.to_order(oid, last_priority + k))
        result = clear_vectorized(r, orders)
        fills = [
            {"account": owners[oid][0], "order_id": oid, "side": owners[oid][1], "quantity_lots": int(q),
             "price_ticks": result.price_ticks}
            for oid, q in result.fills.items() if q > 0 and result.price_ticks is not None
        ]
        forfeits = [{"account": c.account, "nonce": c.nonce, "bond": c.bond}
                    for key, c in state.commitments.items() if key not in state.reveals and c.bond > 0]
        payload = {"round_id": round_id, "document": round_to_document(r, orders), "requested": requested,
                   "result": result.to_json_dict(), "fills": fills, "forfeits": forfeits, "at": now}
        appended = core._accept("clear", payload)
        return appended, payload
