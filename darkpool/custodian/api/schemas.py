"""Request and response schemas of the custodian API (OpenAPI is generated from these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from darkpool.web.schemas import SignedEnvelope

__all__ = ["AbortRequest", "AbortedView", "AttestedEvaluationBody", "DecryptRequest", "DecryptedView",
           "EvidenceView", "IdentityView", "LogEntryView", "MaskRequestBody", "MaskView", "OpenRoundRequest",
           "OpenRoundsView", "OpenedRoundView", "RefusalView", "SealedBoxView"]


SHA256_HEX = r"^[0-9a-f]{64}$"
"""How the transcript's digests travel (``fhe.transcript.digest``): lowercase SHA-256 hex."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenRoundRequest(Strict):
    """Draw a round's masks for a circuit of this shape (the custodian picks the smallest that fits)."""

    round_id: int = Field(ge=1)
    slots: int = Field(ge=1)
    levels: int = Field(ge=1)
    max_quantity: int = Field(ge=1)
    operator: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="the address whose grants name slot owners")
    groups: int = Field(default=1, ge=1, le=16, description="evaluate the round in at most this many slot groups "
                        "(a split module: Enc(R) is one ciphertext per group); 1: the unsplit circuit")


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
    custodian: str
    groups: int = 1


class MaskRequestBody(Strict):
    """A client's signed MaskRequest with its own signed SlotReservation and the operator's SlotGrant."""

    request: SignedEnvelope
    reservation: SignedEnvelope
    grant: SignedEnvelope


class SealedBoxView(BaseModel):
    """An X25519 sealed box (0x hex): the custodian's ephemeral key, the nonce, ciphertext and tag."""

    ephemeral: str
    nonce: str
    body: str


class MaskView(BaseModel):
    """A slot's mask digits sealed to the requester's box key, and the custodian's signed delivery."""

    round_id: str
    slot: int
    box: SealedBoxView
    delivery: SignedEnvelope


class IdentityView(BaseModel):
    """The address of the key that signs this custodian's mask deliveries."""

    address: str


class EvidenceView(BaseModel):
    """Two operator grants of one slot to two accounts (wire form)."""

    round_id: int
    slot: int
    first: SignedEnvelope
    second: SignedEnvelope


class AttestedEvaluationBody(Strict):
    """A verifier's signed EvaluationAttested with the output ciphertexts (base64) it computed."""

    attestation: SignedEnvelope
    outputs: list[str] = Field(max_length=16)


class AbortRequest(Strict):
    """Why the operator aborts a round it cannot finish."""

    reason: str = Field(min_length=1, max_length=200)


class OpenRoundsView(BaseModel):
    """The rounds the custodian holds open (masks drawn, neither decrypted nor aborted) for one operator."""

    open: list[int]


class AbortedView(BaseModel):
    """An aborted round: its masks are spent and nothing of it will be decrypted."""

    round_id: str
    reason: str


class RefusalView(BaseModel):
    """A decryption request refused before anything was decrypted: the round, the error code, why."""

    round_id: str
    code: str
    message: str


class DecryptRequest(Strict):
    """Decrypt a round's declared outputs (base64 ciphertexts) for the transcript they close."""

    circuit_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")
    masks_digest: str = Field(pattern=SHA256_HEX)
    inputs_commitment: str = Field(pattern=SHA256_HEX)
    transcript_hash: str = Field(pattern=SHA256_HEX)
    outputs: list[str]
    caps: list[int] = Field(default_factory=list, max_length=4096,
                            description="every slot's cap the round was evaluated with (0: empty slot)")
    attestations: list[AttestedEvaluationBody] = Field(default_factory=list, max_length=64,
                                                       description="verifiers' signed re-evaluations")


class DecryptedView(BaseModel):
    """A round's decrypted outputs, for the operator alone: tie-break rank (null: no trade), volume, fills
    per slot and each filled slot's side (the public log keeps the fills, never the sides)."""

    round_id: str
    rank: int | None
    volume_lots: int
    fills: list[int]
    sides: list[int | None] = Field(description="per slot: 0 a filled buy, 1 a filled sell, null filled nothing")


class LogEntryView(BaseModel):
    """One decryption in the hash-chained log (``outputs`` null: refused as inconsistent)."""

    sequence: int
    round_id: str
    transcript_hash: str
    outputs: dict[str, object] | None
    previous: str
    hash: str
