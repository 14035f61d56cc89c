"""Request and response schemas of the operator API (OpenAPI is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from darkpool.web.schemas import SignedEnvelope

__all__ = [
    "AbandonRequest", "BalanceView", "BatchView", "ClearResponse", "DepositCredit", "DepositEvent", "DomainInfo",
    "FillView", "MarginView", "MarkRequest", "OpenRoundRequest", "ProofsView", "ReceiptView", "RevealRequest",
    "RoundAck", "RoundResultView", "RoundView", "SettleResponse", "SlotResponse", "WithdrawalAck", "WithdrawalView",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenRoundRequest(Strict):
    """Announce a round. Commit-reveal rounds take orders for ``commit_s`` seconds from now and
    reveals for ``reveal_s`` seconds after that (the operator's defaults when omitted)."""

    mode: Literal["commit_reveal", "fhe"]
    instrument: str
    reference_ticks: int
    band_low_ticks: int
    levels: int = Field(ge=1)
    slot_count: int = Field(default=0, ge=0)
    commit_s: int | None = Field(default=None, ge=1, le=86_400)
    reveal_s: int | None = Field(default=None, ge=1, le=86_400)
    bond: int = Field(default=0, ge=0, lt=2**256)


class RevealRequest(Strict):
    account: str
    nonce: int = Field(ge=0)
    side: int
    limit_ticks: int
    quantity_lots: int
    salt: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class AbandonRequest(Strict):
    reason: str = Field(min_length=1, max_length=200)


class DepositEvent(Strict):
    deposit_id: int = Field(ge=1)
    account: str
    amount: int = Field(gt=0)


class MarkRequest(Strict):
    underlying: str
    price: float = Field(gt=0)


class SmileRequest(Strict):
    expiry: int = Field(gt=0, lt=2**63)
    atm: float = Field(ge=0.01, le=5.0)
    skew: float = Field(default=0.0, ge=-10.0, le=10.0)
    curvature: float = Field(default=0.0, ge=-10.0, le=10.0)


class VolSurfaceRequest(Strict):
    """An underlying's implied volatility surface: one smile per expiry (``atm + skew·k + curvature·k²``,
    ``k = ln(strike / spot)``), total variance interpolated between expiries."""

    underlying: str
    smiles: list[SmileRequest] = Field(min_length=1, max_length=64)


class RoundAck(BaseModel):
    seq: int
    head: str
    round_id: int


class WithdrawalAck(BaseModel):
    seq: int
    head: str
    withdrawal_id: int


class SlotResponse(BaseModel):
    """The reserved slot, the round's FHE description and the operator's signed grant of the slot
    (the client shows it, with its own reservation, to the custodian for the slot's mask)."""

    seq: int
    head: str
    slot: int
    fhe: dict[str, Any]
    grant: SignedEnvelope


class DepositCredit(BaseModel):
    credited: bool
    deposit_id: int
    seq: int | None = None
    head: str | None = None


class DomainInfo(BaseModel):
    chain_id: int
    verifying_contract: str
    token: str
    operator: str
    """The address that signs commit-reveal receipts (``CommitmentsSealed`` statements)."""
    instruments: list[dict[str, Any]]
    custodian_url: str | None
    mark_max_age_s: int | None = None
    """How old a mark may be; an expiry settles at the last mark observed before it only if it was then fresh."""


class RoundResultView(BaseModel):
    price_ticks: int | None
    volume_lots: int
    fills: dict[str, int]


class RoundView(BaseModel):
    round_id: int
    mode: str
    phase: str
    instrument: str
    reference_ticks: int
    band_low_ticks: int
    levels: int
    opened_at: int
    commitments: int
    commitments_root: str | None
    reveals: int
    slot_count: int
    slots_taken: int
    orders: int
    result: RoundResultView | None
    root_on_chain: bool | None = None
    bond: int | None = None
    commit_closes_at: int | None = None
    reveal_closes_at: int | None = None


class ClearResponse(BaseModel):
    seq: int
    head: str
    result: RoundResultView | None


class ReceiptView(BaseModel):
    """A committer's proof that its commitment is in the sealed root, under the operator's signature."""

    sealed: dict[str, Any]
    account: str
    nonce: int
    commitment: str
    tree_index: int
    proof: list[str]


class BalanceView(BaseModel):
    account: str
    balance: int
    free: int
    bonds_locked: int
    forfeited: int


class FillView(BaseModel):
    round_id: int
    instrument: str
    order_id: str
    side: str
    quantity_lots: int
    price_ticks: int


class MarginView(BaseModel):
    account: str
    equity: int
    initial_margin: int
    maintenance_margin: int
    free_collateral: int
    under_maintenance: bool


class BatchView(BaseModel):
    """A batch's roots and journal head; its leaves (``balances``, ``fills``, ``withdrawals``) only for
    the operator and the auditors (null for the public)."""

    batch_id: int
    token: str
    balances: dict[str, int] | None
    journal_seq: int
    journal_head: str
    deposits_credited: int
    fills: list[dict[str, Any]] | None
    withdrawals: list[dict[str, Any]] | None
    balances_root: str
    fills_root: str
    withdrawals_root: str
    posted: bool
    tx: str | None
    at: int


class SettleResponse(BatchView):
    seq: int
    head: str


class WithdrawalView(BaseModel):
    """A withdrawal: ``batch_id`` is the batch that committed it (null until one has); ``claimable`` says
    whether that batch is final on chain (its challenge window passed unvetoed), so the claim can be paid."""

    withdrawal_id: int
    account: str
    amount: int
    batch_id: int | None
    claimable: bool = False


class ProofsView(BaseModel):
    batch_id: int
    balances_root: str
    fills_root: str
    withdrawals_root: str
    balance: dict[str, Any] | None
    fills: list[dict[str, Any]]
    withdrawals: list[dict[str, Any]]


MAX_BATCH = 1000
"""Commitments one batch request may carry (a 1 MiB body holds about 1,700)."""


class CommitmentBatch(BaseModel):
    """Signed commitments sent together; each is checked as if sent alone."""

    model_config = ConfigDict(extra="forbid")
    commitments: list[SignedEnvelope] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRefusal(BaseModel):
    """One commitment of a batch that was refused, by its index, with the error it would get alone."""

    index: int
    code: str
    message: str


class BatchAck(BaseModel):
    """A batch's outcome: the journal entry holding its accepted commitments (null when none was) and
    every refusal."""

    seq: int | None
    head: str | None
    accepted: int
    refused: list[BatchRefusal]
