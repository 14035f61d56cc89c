"""Request and response schemas of the operator API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DepositEvent", "MarkRequest", "OpenRoundRequest", "RevealRequest", "RoundAck", "SignedEnvelope",
    "WithdrawalAck", "DomainInfo",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignedEnvelope(Strict):
    """An EIP-712 message in wire form (see :mod:`darkpool.signing.wire`)."""

    type: str
    message: dict[str, Any]
    chain_id: int
    verifying_contract: str
    signature: str


class OpenRoundRequest(Strict):
    mode: Literal["commit_reveal", "fhe"]
    instrument: str
    reference_ticks: int
    band_low_ticks: int
    levels: int = Field(ge=1)
    slot_count: int = Field(default=0, ge=0)


class RevealRequest(Strict):
    account: str
    nonce: int = Field(ge=0)
    side: int
    limit_ticks: int
    quantity_lots: int
    salt: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class DepositEvent(Strict):
    deposit_id: int = Field(ge=1)
    account: str
    amount: int = Field(gt=0)


class MarkRequest(Strict):
    underlying: str
    price: float = Field(gt=0)


class RoundAck(BaseModel):
    seq: int
    head: str
    round_id: int


class WithdrawalAck(BaseModel):
    seq: int
    head: str
    withdrawal_id: int


class DomainInfo(BaseModel):
    chain_id: int
    verifying_contract: str
    token: str
    instruments: list[dict[str, Any]]
    custodian_url: str | None
