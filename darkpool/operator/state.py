"""The operator's state types: its configuration, each round's state, each batch's record.

Per round: the commit-reveal machine, or an FHE round's slots and outputs.

One phase vocabulary serves both modes (:class:`commit_reveal.Phase`): an FHE round takes orders
in ``commit``, opens the sides of its filled slots in ``reveal``, and ends ``cleared`` or
``cancelled``. Commit-reveal phases come from the machine, which reads them off the schedule
fixed when the round was announced and the operator's two actions (seal, clear).

Pure state: the operator's appliers change it, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commit_reveal import CommitRevealRound, Phase
from darkpool.domain import Account, Instrument, OrderId, Round, Side
from darkpool.errors import PhaseError
from darkpool.margin import MarginConfig
from darkpool.operator.events import (
    BatchPrepared,
    FheEvaluated,
    FheLiquidation,
    FheOrderAccepted,
    FheRoundInfo,
    Mode,
)
from darkpool.settlement.trees import BatchTrees
from darkpool.signing import SigningDomain

__all__ = ["BatchRecord", "CommitRevealState", "CoreConfig", "FheState", "Phase", "RoundState", "require"]


@dataclass(frozen=True)
class CoreConfig:
    """What the operator needs to decide: domain, token, instruments, margin policy, round defaults.

    ``operator_key`` signs each commit-reveal round's ``CommitmentsSealed`` statement, the
    receipt every committer can check (kept out of ``repr``).
    """

    domain: SigningDomain
    token: str
    instruments: tuple[Instrument, ...]
    operator_key: bytes = field(repr=False)
    margin: MarginConfig = field(default_factory=MarginConfig)
    implied_vols: Mapping[str, float] = field(default_factory=dict)
    max_levels: int = 64
    max_slots: int = 64
    commit_s: int = 30
    reveal_s: int = 30


@dataclass(slots=True)
class BatchRecord:
    """A journaled batch with its trees, built once; ``tx`` is set once it is on chain."""

    prepared: BatchPrepared
    trees: BatchTrees
    posted: bool = False
    tx: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The published batch: every leaf, so anyone rebuilds the roots."""
        p, batch = self.prepared, self.trees.batch
        return {"batch_id": p.batch_id, "token": p.token, "balances": dict(p.balances), "journal_seq": p.journal_seq,
                "journal_head": p.journal_head, "deposits_credited": p.deposits_credited,
                "fills": [{"round_id": f.round_id, "account": f.account, "instrument": f.instrument,
                           "order_id": f.order_id, "side": int(f.side), "quantity_lots": int(f.quantity_lots),
                           "price_ticks": int(f.price_ticks)} for f in batch.fills],
                "withdrawals": [{"withdrawal_id": w.withdrawal_id, "account": w.account, "amount": int(w.amount)}
                                for w in batch.withdrawals],
                "balances_root": p.balances_root, "fills_root": p.fills_root, "withdrawals_root": p.withdrawals_root,
                "posted": self.posted, "tx": self.tx, "at": p.at}


@dataclass(slots=True)
class CommitRevealState:
    """A commit-reveal round: the machine, whether its root is on chain, and who owns each order."""

    round_id: int
    round: Round
    opened_at: int
    machine: CommitRevealRound
    bond: int
    posted: bool = False
    abandoned: bool = False
    owners: dict[OrderId, tuple[Account, Side]] = field(default_factory=dict)
    allocated: dict[tuple[Account, Side], tuple[int, int]] = field(default_factory=dict)
    """Per account and side: lots its accepted reveals may trade and their most aggressive limit (joint caps)."""
    mode: Mode = Mode.COMMIT_REVEAL

    @property
    def phase(self) -> Phase:
        return Phase.CANCELLED if self.abandoned else self.machine.phase

    def summary(self, full: bool = True) -> dict[str, Any]:
        """The round's public summary (a commit-reveal round is public once revealed, ``full`` or not)."""
        machine = self.machine
        sealed, result = machine.seal_record, machine.result
        schedule = machine.config.schedule
        return {**_common(self), "commitments": len(machine.commitments()),
                "commitments_root": None if sealed is None or sealed.layout is None else "0x" + sealed.root.hex(),
                "root_on_chain": self.posted, "reveals": machine.revealed_count(), "bond": self.bond,
                "commit_closes_at": schedule.commit_closes_at, "reveal_closes_at": schedule.reveal_closes_at,
                "slot_count": 0, "slots_taken": 0, "orders": 0,
                "result": None if result is None else result.to_json_dict()}


@dataclass(slots=True)
class FheState:
    """An FHE round: slot owners, accepted (sealed) orders, decrypted outputs and fill sides, booking."""

    round_id: int
    round: Round
    opened_at: int
    info: FheRoundInfo
    slots: dict[int, Account] = field(default_factory=dict)
    orders: dict[int, FheOrderAccepted] = field(default_factory=dict)
    liquidations: dict[int, FheLiquidation] = field(default_factory=dict)
    """The liquidation queue's orders placed at the close in the operator's slots (``slots`` names the
    liquidated account there: the fills book to it)."""
    evaluated: FheEvaluated | None = None
    sides: dict[int, int] = field(default_factory=dict)
    """Each filled slot's side, as decrypted from the circuit (journaled privately)."""
    booked: bool = False
    """Fills booked: at once after decryption, or at the first fresh mark if the marks went stale meanwhile."""
    abandoned: bool = False
    mode: Mode = Mode.FHE
    evaluating: bool = False
    """Being evaluated outside the core's lock (not journaled): no slot, order, cancel or abandon meanwhile."""

    @property
    def phase(self) -> Phase:
        if self.abandoned:
            return Phase.CANCELLED
        if self.evaluated is None:
            return Phase.COMMIT
        # Decrypted but not booked yet (the marks went stale during the evaluation): booked at the next mark.
        return Phase.CLEARED if self.booked else Phase.REVEAL

    def awaiting_booking(self) -> bool:
        """Decrypted, sides known, fills not booked yet."""
        return self.evaluated is not None and not self.booked and not self.abandoned

    def order_id(self, slot: int) -> OrderId:
        liquidation = self.liquidations.get(slot)
        if liquidation is not None:
            return liquidation.order_id
        return OrderId(f"{self.slots[slot]}:{self.round_id}:{slot}")

    def filled_slots(self) -> list[int]:
        """The slots holding an order, a client's or a liquidation, in slot order."""
        return sorted({*self.orders, *self.liquidations})

    def result(self, full: bool = True) -> dict[str, Any] | None:
        """Price, volume and each order's fill; ``full=False`` (the public's view) keys fills by slot
        only, so who traded what stays between each institution and the operator."""
        e = self.evaluated
        if e is None:
            return None
        fills = {(self.order_id(s) if full else f"slot:{s}"): e.slot_fills[s] for s in self.filled_slots()}
        return {"price_ticks": e.price_ticks, "volume_lots": e.volume_lots, "fills": fills}

    def summary(self, full: bool = True) -> dict[str, Any]:
        return {**_common(self), "commitments": 0, "commitments_root": None, "reveals": 0,
                "slot_count": self.info.slots, "slots_taken": len(self.slots),
                "orders": len(self.orders) + len(self.liquidations),
                "result": self.result(full)}


RoundState = CommitRevealState | FheState


def _common(state: RoundState) -> dict[str, Any]:
    r = state.round
    return {"round_id": state.round_id, "mode": state.mode.value, "phase": state.phase.value,
            "instrument": r.instrument, "reference_ticks": r.reference_ticks, "band_low_ticks": r.band_low_ticks,
            "levels": r.levels, "opened_at": state.opened_at}


def require(state: RoundState, mode: Mode, *phases: Phase) -> None:
    """Raise :class:`PhaseError` unless ``state`` is a ``mode`` round in one of ``phases``."""
    if state.mode is not mode:
        raise PhaseError(f"round {state.round_id} is a {state.mode.value} round, not {mode.value}")
    if phases and state.phase not in phases:
        wanted = " or ".join(p.value for p in phases)
        raise PhaseError(f"round {state.round_id} is in phase {state.phase.value}; this needs phase {wanted}")
