"""EIP-712 typed messages: the domain and every message a party signs.

Struct hashes are computed here by hand from the message's field list (so verification does not
rebuild the domain or re-parse a typed-data document per message); tests hold every digest equal
to eth-account's ``encode_typed_data`` and to digests computed independently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from darkpool.crypto.keccak import address_word, int_word, keccak256, uint_word
from darkpool.domain import account as _account
from darkpool.errors import ValidationError

__all__ = [
    "Cancel",
    "Commitment",
    "FheOrder",
    "MESSAGE_TYPES",
    "MaskRequest",
    "SignedOrder",
    "SigningDomain",
    "SlotReservation",
    "TypedMessage",
    "WithdrawalRequest",
    "domain_separator",
    "side_commitment",
]

DOMAIN_NAME = "darkpool"
DOMAIN_VERSION = "1"


def _encoder(sol_type: str) -> Callable[[Any], bytes]:
    """The EIP-712 ``encodeData`` function of one atomic or dynamic Solidity type."""
    if sol_type == "address":
        return address_word
    if sol_type == "string":
        return lambda value: keccak256(value.encode())
    if sol_type == "bytes":
        return lambda value: keccak256(bytes(value))
    if sol_type == "bytes32":
        def bytes32(value: bytes) -> bytes:
            if len(value) != 32:
                raise ValueError(f"expected 32 bytes, got {len(value)}")
            return bytes(value)
        return bytes32
    if sol_type.startswith("uint"):
        bits = int(sol_type[4:])
        return lambda value: uint_word(value, bits)
    if sol_type.startswith("int"):
        bits = int(sol_type[3:])
        return lambda value: int_word(value, bits)
    raise TypeError(f"unsupported EIP-712 field type {sol_type}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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

    def _compute_separator(self) -> bytes:
        type_hash = keccak256(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        )
        return keccak256(
            type_hash,
            keccak256(self.name.encode()),
            keccak256(self.version.encode()),
            uint_word(self.chain_id),
            address_word(self.verifying_contract),
        )

    def as_typed_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


_separators: dict[SigningDomain, bytes] = {}


def domain_separator(domain: SigningDomain) -> bytes:
    """The domain separator, computed once per domain."""
    cached = _separators.get(domain)
    if cached is None:
        cached = _separators[domain] = domain._compute_separator()
    return cached


@dataclass(frozen=True, slots=True)
class TypedMessage:
    """Base of every signed message: each has ``account``, ``nonce`` and ``expiry`` fields.

    Subclasses list their fields as dataclass fields in EIP-712 order and give each Solidity type
    in ``SOL_TYPES``; field names are snake_case here and camelCase in the typed data.
    """

    TYPE_NAME: ClassVar[str] = ""
    SOL_TYPES: ClassVar[dict[str, str]] = {}

    @classmethod
    def type_string(cls) -> str:
        members = ",".join(f"{cls.SOL_TYPES[f.name]} {_camel(f.name)}" for f in fields(cls))
        return f"{cls.TYPE_NAME}({members})"

    @classmethod
    def type_hash(cls) -> bytes:
        cached: bytes | None = _type_hashes.get(cls)
        if cached is None:
            cached = _type_hashes[cls] = keccak256(cls.type_string().encode())
        return cached

    @classmethod
    def _encoders(cls) -> tuple[tuple[str, Callable[[Any], bytes]], ...]:
        cached = _field_encoders.get(cls)
        if cached is None:
            cached = _field_encoders[cls] = tuple((f.name, _encoder(cls.SOL_TYPES[f.name])) for f in fields(cls))
        return cached

    def struct_hash(self) -> bytes:
        """EIP-712 ``hashStruct`` of this message."""
        return keccak256(self.type_hash(), *[encode(getattr(self, name)) for name, encode in self._encoders()])

    def digest(self, domain: SigningDomain) -> bytes:
        """The EIP-712 digest ``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))``."""
        return keccak256(b"\x19\x01", domain_separator(domain), self.struct_hash())

    def typed_message(self) -> dict[str, Any]:
        """The message part of a typed-data document (values as eth-account expects them)."""
        return {_camel(f.name): getattr(self, f.name) for f in fields(self)}

    def typed_data(self, domain: SigningDomain) -> dict[str, Any]:
        """A full EIP-712 document, as wallets sign it."""
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                self.TYPE_NAME: [
                    {"name": _camel(f.name), "type": self.SOL_TYPES[f.name]} for f in fields(self)
                ],
            },
            "primaryType": self.TYPE_NAME,
            "domain": domain.as_typed_data(),
            "message": self.typed_message(),
        }

    @property
    def signer(self) -> str:
        return str(getattr(self, "account"))  # noqa: B009 - every subclass declares it

    @property
    def message_nonce(self) -> int:
        return int(getattr(self, "nonce"))  # noqa: B009

    @property
    def message_expiry(self) -> int:
        return int(getattr(self, "expiry"))  # noqa: B009

    def check_ranges(self) -> None:
        """Raise :class:`ValidationError` if a field does not fit its Solidity type."""
        for name, encode in self._encoders():
            try:
                encode(getattr(self, name))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValidationError(f"{self.TYPE_NAME}.{_camel(name)}: {exc}") from None


_type_hashes: dict[type[TypedMessage], bytes] = {}
_field_encoders: dict[type[TypedMessage], tuple[tuple[str, Callable[[Any], bytes]], ...]] = {}


@dataclass(frozen=True, slots=True)
class SignedOrder(TypedMessage):
    """A plaintext order, as revealed in commit-reveal rounds."""

    TYPE_NAME: ClassVar[str] = "Order"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "instrument": "string", "round_id": "uint64", "side": "uint8",
        "limit_ticks": "int64", "quantity_lots": "uint64", "nonce": "uint64", "expiry": "uint64",
    }
    account: str
    instrument: str
    round_id: int
    side: int
    limit_ticks: int
    quantity_lots: int
    nonce: int
    expiry: int


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
    """Ask the custodian for the digit masks of the account's own slot in FHE round ``round_id``."""

    TYPE_NAME: ClassVar[str] = "MaskRequest"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "round_id": "uint64", "slot": "uint16", "nonce": "uint64", "expiry": "uint64",
    }
    account: str
    round_id: int
    slot: int
    nonce: int
    expiry: int


@dataclass(frozen=True, slots=True)
class FheOrder(TypedMessage):
    """An FHE order: the slot's masked digits and a hiding commitment to the order's side.

    The operator cannot book a fill without its side, and the circuit reveals fills only; the
    client opens ``side_commitment`` (see :func:`side_commitment`) for a filled slot after the
    round, so the side of an unfilled order is never revealed.
    """

    TYPE_NAME: ClassVar[str] = "FheOrder"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "account": "address", "instrument": "string", "round_id": "uint64", "slot": "uint16",
        "masked_digits": "bytes", "side_commitment": "bytes32", "nonce": "uint64", "expiry": "uint64",
    }
    account: str
    instrument: str
    round_id: int
    slot: int
    masked_digits: bytes
    side_commitment: bytes
    nonce: int
    expiry: int


def side_commitment(holder: str, round_id: int, slot: int, side: int, salt: bytes) -> bytes:
    """Return ``keccak256(abi.encode(address, uint64 round, uint16 slot, uint8 side, bytes32 salt))``."""
    if len(salt) != 32:
        raise ValidationError(f"side commitment salt must be 32 bytes, got {len(salt)}")
    return keccak256(address_word(holder), uint_word(round_id, 64), uint_word(slot, 16), uint_word(side, 8), salt)


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


MESSAGE_TYPES: dict[str, type[TypedMessage]] = {
    cls.TYPE_NAME: cls
    for cls in (SignedOrder, Commitment, Cancel, WithdrawalRequest, SlotReservation, MaskRequest, FheOrder)
}
