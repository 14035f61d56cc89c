"""The operator and custodian services (FastAPI).

App factories are imported lazily, so importing this package does not load FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_custodian_app", "create_operator_app"]


def __getattr__(name: str) -> Any:
    if name == "create_operator_app":
        from darkpool.services.operator_app import create_operator_app

        return create_operator_app
    if name == "create_custodian_app":
        from darkpool.services.custodian_app import create_custodian_app

        return create_custodian_app
    raise AttributeError(name)
