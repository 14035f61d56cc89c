"""Schemas both services take: a signed message in its wire form."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["SignedEnvelope"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignedEnvelope(Strict):
    """An EIP-712 message in wire form (see :mod:`darkpool.signing.wire`)."""

    type: str
    message: dict[str, Any]
    chain_id: int
    verifying_contract: str
    signature: str
