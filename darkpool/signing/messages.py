"""The EIP-712 messages each party signs, and the darkpool signing domain.

The machinery (encoders, type and struct hashes, separators, digests) is
:mod:`darkpool.crypto.eip712`; here are the definitions: which fields each message has, in which
order and of which Solidity type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from darkpool.crypto.eip712 import Eip712Struct, domain_separator
from darkpool.crypto.keccak import keccak256
from darkpool.domain import account as _account
from darkpool.errors import ValidationError

__all__ = [
    "AccountRead",
    "Cancel",
    "Commitment",
    "FheOrder",
    "MESSAGE_TYPES",
    "MaskRequest",
    "SigningDomain",
    "SlotReservation",
    "TypedMessage",
    "WithdrawalRequest",
    "digits_commitment",
]

DOMAIN_NAME = "darkpool"
DOMAIN_VERSION = "1"


@dataclass(frozen=True, slots=True)
class SigningDomain:
    """The EIP-712 domain: name, version, chain id and the settlement contract."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", _account(self.verifying_contract))
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 1:
            raise ValidationError(f"chain id must be a positive integer, got {self.chain_id!r}")

    @property
    def separator(self) -> bytes:
        """The domain separator (computed once per domain and cached)."""
        return domain_separator(self)

    def as_typed_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True, slots=True)
class TypedMessage(Eip712Struct):
    """Base of every signed message: each has ``account``, ``nonce`` and ``expiry`` fields."""

    @property
    def signer(self) -> str:
        return str(getattr(self, "account"))  # noqa: B009 - every subclass declares it

    @property
    def message_nonce(self) -> int:
        return int(getattr(self, "nonce"))  # noqa: B009

    @property
    def message_expiry(self) -> int:
        return int(getattr(self, "expiry"))  # noqa: B009


@dataclass(frozen=True, slots=True)
class SlotReservation(TypedMessage):
    """Ask the operator for an input slot in FHE round ``round_id``."""

    TYPE_NAME: ClassVar[str] = "SlotReservation"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "instrument": "string", "round_id": "uint64", "nonce": "uint64", "expiry": "uint64",
    }
    account: str
    instrument: str
    round_id: int
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class MaskRequest(TypedMessage):
    """Ask the custodian for the digit masks of the account's own slot in FHE round ``round_id``,
    sealed to the fresh X25519 public key ``box_key`` (see :mod:`darkpool.crypto.boxes`)."""

    TYPE_NAME: ClassVar[str] = "MaskRequest"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "round_id": "uint64", "slot": "uint16", "box_key": "bytes32", "nonce": "uint64",
        "expiry": "uint64",
    }
    account: str
    round_id: int
    slot: int
    box_key: bytes
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class FheOrder(TypedMessage):
    """An FHE order: a hiding commitment to its masked digits, and the round it encodes for.

    The masked digits ``d`` take at most 4**K values, so a signature over ``d`` (or its plain
    hash) lets whoever knows the mask — the custodian — find the order by trying them all.
    The client signs ``digits_commitment = keccak256(d ‖ salt)`` instead (a fresh 32-byte salt;
    see :func:`digits_commitment`) and sends ``d`` and the salt to the operator only, beside the
    signed message. The order also binds the round's reference price, band and circuit it was
    encoded against, so an operator that lied about them is caught by the signature. The side of
    a filled order comes out of the circuit with its fill (an unfilled slot's side is never
    decrypted), so the client has nothing to open after the round.
    """

    TYPE_NAME: ClassVar[str] = "FheOrder"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "instrument": "string", "round_id": "uint64", "slot": "uint16",
        "digits_commitment": "bytes32", "reference_ticks": "int64",
        "band_low_ticks": "int64", "levels": "uint16", "circuit_id": "string", "nonce": "uint64",
        "expiry": "uint64",
    }
    account: str
    instrument: str
    round_id: int
    slot: int
    digits_commitment: bytes
    reference_ticks: int
    band_low_ticks: int
    levels: int
    circuit_id: str
    nonce: int
    expiry: int


def digits_commitment(digits: bytes, salt: bytes) -> bytes:
    """Return ``keccak256(digits ‖ salt)``: hiding (a fresh 32-byte salt) and binding."""
    if len(salt) != 32:
        raise ValidationError(f"digits commitment salt must be 32 bytes, got {len(salt)}")
    return keccak256(bytes(digits), salt)


@dataclass(frozen=True, slots=True)
class Commitment(TypedMessage):
    """A sealed commit-reveal order: ``keccak256(abi.encode(order fields, salt))`` and its bond."""

    TYPE_NAME: ClassVar[str] = "Commitment"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "instrument": "string", "round_id": "uint64", "commitment": "bytes32",
        "bond": "uint256", "nonce": "uint64", "expiry": "uint64",
    }
    account: str
    instrument: str
    round_id: int
    commitment: bytes
    bond: int
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class Cancel(TypedMessage):
    """Cancel the account's message with nonce ``order_nonce`` in a round."""

    TYPE_NAME: ClassVar[str] = "Cancel"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "round_id": "uint64", "order_nonce": "uint64", "nonce": "uint64",
        "expiry": "uint64",
    }
    account: str
    round_id: int
    order_nonce: int
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class WithdrawalRequest(TypedMessage):
    """Ask the operator to include a withdrawal of ``amount`` base units in the next batch."""

    TYPE_NAME: ClassVar[str] = "WithdrawalRequest"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "token": "address", "amount": "uint256", "nonce": "uint64",
        "expiry": "uint64",
    }
    account: str
    token: str
    amount: int
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class AccountRead(TypedMessage):
    """Let the bearer read ``account``'s balance, positions, fills, margin and proofs until ``expiry``.

    Post-trade data is private: the operator answers an account's reads only under its own
    signature, with a short expiry (no nonce: a read changes nothing, and replay within the
    expiry only repeats what the signer asked for).
    """

    TYPE_NAME: ClassVar[str] = "AccountRead"
    SOL_TYPES: ClassVar[dict[str, str]] = {"account": "address", "expiry": "uint64"}
    account: str
    expiry: int


MESSAGE_TYPES: dict[str, type[TypedMessage]] = {
    cls.TYPE_NAME: cls
    for cls in (Commitment, Cancel, WithdrawalRequest, SlotReservation, MaskRequest, FheOrder, AccountRead)
}
