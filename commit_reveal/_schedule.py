"""Round phases and the schedule that drives them from an injected clock.

A round moves ``open → commit → sealing → reveal → clearing → cleared``, or to ``cancelled`` from
any phase before ``cleared``. Time alone moves it from open to commit to sealing; the operator's
seal moves it to reveal; time moves it on to clearing, where the operator clears it. ``sealing``
and ``clearing`` are the waits for those two operator actions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from darkpool.errors import ValidationError

__all__ = ["Phase", "Schedule"]


class Phase(enum.Enum):
    OPEN = "open"
    """Announced; commits not accepted yet."""
    COMMIT = "commit"
    """Commits accepted."""
    SEALING = "sealing"
    """Commit phase closed; waiting for the operator to seal the commitments root."""
    REVEAL = "reveal"
    """Root sealed; reveals accepted until the deadline."""
    CLEARING = "clearing"
    """Reveal deadline passed; waiting for the operator to clear."""
    CLEARED = "cleared"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When commits open and close and when reveals close, in POSIX seconds of the round's clock."""

    commit_opens_at: int
    commit_closes_at: int
    reveal_closes_at: int

    def __post_init__(self) -> None:
        times = (self.commit_opens_at, self.commit_closes_at, self.reveal_closes_at)
        if any(isinstance(t, bool) or not isinstance(t, int) for t in times):
            raise ValidationError(f"schedule times must be integers, got {times!r}")
        if not self.commit_opens_at < self.commit_closes_at < self.reveal_closes_at:
            raise ValidationError(
                "schedule must satisfy commit_opens_at < commit_closes_at < reveal_closes_at, "
                f"got {self.commit_opens_at}, {self.commit_closes_at}, {self.reveal_closes_at}"
            )

    def phase(self, now: int, *, sealed: bool, cleared: bool, cancelled: bool) -> Phase:
        """Return the phase at ``now`` given what the operator has done."""
        if cancelled:
            return Phase.CANCELLED
        if cleared:
            return Phase.CLEARED
        if sealed:
            return Phase.REVEAL if now < self.reveal_closes_at else Phase.CLEARING
        if now < self.commit_opens_at:
            return Phase.OPEN
        if now < self.commit_closes_at:
            return Phase.COMMIT
        return Phase.SEALING
