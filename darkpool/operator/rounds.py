"""Round state the operator keeps per round: phase, commitments, reveals, slots and the result.

Pure state: the operator core mutates it only while applying journal entries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from darkpool.domain import Account, Round
from darkpool.errors import PhaseError

__all__ = ["Committed", "Mode", "Phase", "Revealed", "RoundState"]


class Mode(enum.StrEnum):
    COMMIT_REVEAL = "commit_reveal"
    FHE = "fhe"


class Phase(enum.StrEnum):
    """Commit-reveal: commit → reveal → cleared. FHE: open → evaluated (fill sides opening) → cleared."""

    COMMIT = "commit"
    REVEAL = "reveal"
    OPEN = "open"
    EVALUATED = "evaluated"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Committed:
    account: Account
    nonce: int
    commitment: bytes
    bond: int
    seq: int


@dataclass(frozen=True, slots=True)
class Revealed:
    account: Account
    nonce: int
    side: int
    limit_ticks: int
    quantity_lots: int
    seq: int

    @property
    def order_id(self) -> str:
        return f"{self.account}:{self.nonce}"


@dataclass(slots=True)
class RoundState:
    """Everything the operator knows about one round."""

    round_id: int
    mode: Mode
    round: Round
    opened_at: int
    phase: Phase
    commitments: dict[tuple[Account, int], Committed] = field(default_factory=dict)
    commitments_root: str | None = None
    reveals: dict[tuple[Account, int], Revealed] = field(default_factory=dict)
    slots: dict[int, Account] = field(default_factory=dict)
    masked: dict[int, dict[str, Any]] = field(default_factory=dict)
    slot_count: int = 0
    fhe: dict[str, Any] = field(default_factory=dict)
    pending_sides: dict[int, int] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    published: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """Return the public view of the round."""
        return {
            "round_id": self.round_id,
            "mode": self.mode.value,
            "phase": self.phase.value,
            "instrument": self.round.instrument,
            "reference_ticks": self.round.reference_ticks,
            "band_low_ticks": self.round.band_low_ticks,
            "levels": self.round.levels,
            "opened_at": self.opened_at,
            "commitments": len(self.commitments),
            "commitments_root": self.commitments_root,
            "reveals": len(self.reveals),
            "slot_count": self.slot_count,
            "slots_taken": len(self.slots),
            "orders": len(self.masked),
            "result": self.result,
        }


def require(state: RoundState, mode: Mode, phase: Phase) -> RoundState:
    """Return ``state`` if it is a ``mode`` round in ``phase``; raise :class:`PhaseError` otherwise."""
    if state.mode is not mode:
        raise PhaseError(f"round {state.round_id} is a {state.mode.value} round, not {mode.value}")
    if state.phase is not phase:
        raise PhaseError(f"round {state.round_id} is in phase {state.phase.value}; this needs phase {phase.value}")
    return state
