"""What a finished round publishes for auditors and clients to check.

A commit-reveal round publishes in :func:`commit_reveal.publish`'s format (every sealed
commitment, every reveal with its salt and capped quantity, the operator's extra orders, the
round document and the result), which :func:`commit_reveal.audit_publication` — and the auditor's
own code — replays. An FHE round publishes its decrypted outputs, the caps it evaluated with,
the transcript the custodian logged and the sides its filled slots opened, and its liquidations (public
like a commit-reveal round's extra orders: the queue's orders the operator placed in its own slots).
"""

from __future__ import annotations

from dataclasses import asdict

from commit_reveal import Phase, publish
from darkpool.errors import PhaseError
from darkpool.operator.events import FheLiquidation
from darkpool.operator.state import CommitRevealState, RoundState

__all__ = ["liquidation_terms", "publication"]


def liquidation_terms(placed: FheLiquidation) -> dict[str, object]:
    """The public terms of a liquidation in an FHE round: its slot and the queue's order."""
    return {"slot": placed.slot, "order_id": placed.order_id, "account": placed.account, "side": placed.side,
            "limit_ticks": placed.limit_ticks, "quantity_lots": placed.quantity_lots}


def publication(state: RoundState, full: bool = True) -> dict[str, object]:
    """The publication of a cleared round; raise :class:`PhaseError` before it clears.

    The public's view of an FHE round (``full=False``) has fills by slot and no sides: the
    aggregates, caps and transcript auditors check, not who traded what.
    """
    if state.phase is not Phase.CLEARED:
        raise PhaseError(f"round {state.round_id} publishes once cleared; it is {state.phase.value}")
    common: dict[str, object] = {"round_id": state.round_id, "mode": state.mode.value,
                                 "instrument": state.round.instrument}
    if isinstance(state, CommitRevealState):
        return {**publish(state.machine), **common}
    assert state.evaluated is not None
    info = asdict(state.info)
    published: dict[str, object] = {
        **common, "result": state.result(full), "transcript_hash": state.evaluated.transcript_hash,
        "caps": list(state.evaluated.caps), "circuit_id": info["circuit_id"], "masks_digest": info["masks_digest"],
        "liquidations": [liquidation_terms(placed) for _, placed in sorted(state.liquidations.items())]}
    if full:
        published["fill_sides"] = {str(slot): side for slot, side in sorted(state.sides.items())}
    return published
