"""Request and response schemas of the custodian API (OpenAPI is generated from these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DecryptRequest", "DecryptedView", "LogEntryView", "MaskView", "OpenRoundRequest", "OpenedRoundView",
           "SlotAssigned", "SlotOwnerRequest"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenRoundRequest(Strict):
    """Draw a round's masks for a circuit of this shape (the custodian picks the smallest that fits)."""

    round_id: int = Field(ge=1)
    slots: int = Field(ge=1)
    levels: int = Field(ge=1)
    max_quantity: int = Field(ge=1)


class OpenedRoundView(BaseModel):
    """``Enc(R)`` (base64 in ``masks``), its digest and the circuit shape the round runs on."""

    round_id: str
    circuit_id: str
    key_id: str
    slots: int
    levels: int
    quantity_digits: int
    digits_per_slot: int
    max_quantity: int
    masks_digest: str
    masks: str


class SlotOwnerRequest(Strict):
    """Which account owns a slot of the round (the operator reserved it for that account)."""

    slot: int = Field(ge=0)
    account: str


class SlotAssigned(BaseModel):
    round_id: int
    slot: int


class MaskView(BaseModel):
    """A slot's mask digits, for its own account only."""

    round_id: str
    slot: int
    digits: list[int]


class DecryptRequest(Strict):
    """Decrypt a round's declared outputs (base64 ciphertexts) for the transcript they close."""

    circuit_id: str
    masks_digest: str
    inputs_commitment: str
    transcript_hash: str
    outputs: list[str]


class DecryptedView(BaseModel):
    """The only values of a round anyone learns: tie-break rank (null: no trade), volume and fills per slot."""

    round_id: str
    rank: int | None
    volume_lots: int
    fills: list[int]


class LogEntryView(BaseModel):
    """One decryption in the hash-chained log (``outputs`` null: refused as inconsistent)."""

    sequence: int
    round_id: str
    transcript_hash: str
    outputs: dict[str, object] | None
    previous: str
    hash: str
