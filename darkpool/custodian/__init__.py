"""The key custodian: issues masks, holds the FHE secret key, decrypts declared outputs once.

The app factory is imported lazily so importing this package does not load FastAPI or concrete.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_custodian_app"]


def __getattr__(name: str) -> Any:
    if name == "create_custodian_app":
        from darkpool.custodian.api import create_custodian_app

        return create_custodian_app
    raise AttributeError(name)
