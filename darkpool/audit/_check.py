"""The outcome of one audit check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Check"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok`` None means it did not apply (nothing to check)."""

    name: str
    ok: bool | None
    detail: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}
