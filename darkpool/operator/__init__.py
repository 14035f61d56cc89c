"""The operator: sequencer, round machines, margin, books and batches, rebuilt from its journal.

``core`` checks, journals and applies every state change; ``apply`` holds the journal appliers;
``rounds_cr`` and ``rounds_fhe`` drive the two round engines; ``batches`` builds settlement
batches; ``api`` is the HTTP face. The app factory is imported lazily so importing this package
does not load FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_operator_app"]


def __getattr__(name: str) -> Any:
    if name == "create_operator_app":
        from darkpool.operator.api.app import create_operator_app

        return create_operator_app
    raise AttributeError(name)
