"""EIP-712 machinery: field encoders, type hashes, domain separators, struct hashes and digests.

:class:`Eip712Struct` makes a frozen dataclass an EIP-712 struct: its fields, in order, with the
Solidity type of each in ``SOL_TYPES``. Hashes are computed here by hand from that field list (so
verification neither rebuilds the domain nor parses a typed-data document per message); tests hold
every digest equal to eth-account's ``encode_typed_data``. The messages a party signs, and the
policy that checks them, live in :mod:`darkpool.signing`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from darkpool.crypto.abi import address_word, bytes32_word, int_word, uint_word
from darkpool.crypto.keccak import keccak256
from darkpool.errors import ValidationError

__all__ = [
    "DOMAIN_FIELDS",
    "DOMAIN_TYPE",
    "Eip712Domain",
    "Eip712Struct",
    "camel",
    "domain_separator",
    "field_encoder",
    "struct_hash",
    "type_hash",
    "typed_data_digest",
]

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
DOMAIN_FIELDS: tuple[dict[str, str], ...] = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)


class Eip712Domain(Hashable, Protocol):
    """An EIP-712 domain with the four fields of :data:`DOMAIN_TYPE`."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def chain_id(self) -> int: ...
    @property
    def verifying_contract(self) -> str: ...


def _bytes_hash(value: bytes) -> bytes:
    return keccak256(bytes(value))


def _string_hash(value: str) -> bytes:
    return keccak256(value.encode())


def field_encoder(sol_type: str) -> Callable[[Any], bytes]:
    """Return the EIP-712 ``encodeData`` function of one atomic or dynamic Solidity type."""
    if sol_type == "address":
        return address_word
    if sol_type == "string":
        return _string_hash
    if sol_type == "bytes":
        return _bytes_hash
    if sol_type == "bytes32":
        return bytes32_word
    if sol_type.startswith("uint"):
        bits = int(sol_type[4:])
        return lambda value: uint_word(value, bits)
    if sol_type.startswith("int"):
        bits = int(sol_type[3:])
        return lambda value: int_word(value, bits)
    raise TypeError(f"unsupported EIP-712 field type {sol_type}")


_type_hashes: dict[str, bytes] = {}


def type_hash(type_string: str) -> bytes:
    """Return ``keccak256(encodeType)`` of a type string such as ``Mail(address from,string body)``."""
    cached = _type_hashes.get(type_string)
    if cached is None:
        cached = _type_hashes[type_string] = keccak256(type_string.encode())
    return cached


_separators: dict[Eip712Domain, bytes] = {}


def domain_separator(domain: Eip712Domain) -> bytes:
    """Return ``hashStruct(EIP712Domain)`` of ``domain``, computed once per domain."""
    cached = _separators.get(domain)
    if cached is None:
        cached = _separators[domain] = keccak256(
            type_hash(DOMAIN_TYPE),
            _string_hash(domain.name),
            _string_hash(domain.version),
            uint_word(domain.chain_id),
            address_word(domain.verifying_contract),
        )
    return cached


def struct_hash(struct_type_hash: bytes, *encoded_fields: bytes) -> bytes:
    """Return ``hashStruct``: keccak256 of the type hash and each field's 32-byte ``encodeData``."""
    return keccak256(struct_type_hash, *encoded_fields)


def typed_data_digest(separator: bytes, hashed_struct: bytes) -> bytes:
    """Return the signed digest ``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))``."""
    return keccak256(b"\x19\x01", separator, hashed_struct)


def camel(name: str) -> str:
    """Return the camelCase typed-data name of a snake_case field."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, slots=True)
class Eip712Struct:
    """Base of a frozen dataclass hashed as an EIP-712 struct.

    Subclasses list their fields as dataclass fields in EIP-712 order and give each Solidity type
    in ``SOL_TYPES``; field names are snake_case here and camelCase in the typed data.
    """

    TYPE_NAME: ClassVar[str] = ""
    SOL_TYPES: ClassVar[dict[str, str]] = {}

    @classmethod
    def type_string(cls) -> str:
        members = ",".join(f"{cls.SOL_TYPES[f.name]} {camel(f.name)}" for f in fields(cls))
        return f"{cls.TYPE_NAME}({members})"

    @classmethod
    def type_hash(cls) -> bytes:
        cached = _struct_type_hashes.get(cls)
        if cached is None:
            cached = _struct_type_hashes[cls] = type_hash(cls.type_string())
        return cached

    @classmethod
    def field_encoders(cls) -> tuple[tuple[str, Callable[[Any], bytes]], ...]:
        """Return each field's name and ``encodeData`` function, in order."""
        cached = _field_encoders.get(cls)
        if cached is None:
            cached = _field_encoders[cls] = tuple((f.name, field_encoder(cls.SOL_TYPES[f.name])) for f in fields(cls))
        return cached

    def struct_hash(self) -> bytes:
        """Return EIP-712 ``hashStruct`` of this struct."""
        return keccak256(self.type_hash(), *[encode(getattr(self, name)) for name, encode in self.field_encoders()])

    def digest(self, domain: Eip712Domain) -> bytes:
        """Return the EIP-712 digest of this struct under ``domain``."""
        return keccak256(b"\x19\x01", domain_separator(domain), self.struct_hash())

    def typed_message(self) -> dict[str, Any]:
        """Return the message part of a typed-data document (values as eth-account expects them)."""
        return {camel(f.name): getattr(self, f.name) for f in fields(self)}

    def typed_data(self, domain: Eip712Domain) -> dict[str, Any]:
        """Return the full EIP-712 document, as wallets sign it."""
        return {
            "types": {
                "EIP712Domain": [dict(f) for f in DOMAIN_FIELDS],
                self.TYPE_NAME: [{"name": camel(f.name), "type": self.SOL_TYPES[f.name]} for f in fields(self)],
            },
            "primaryType": self.TYPE_NAME,
            "domain": {
                "name": domain.name,
                "version": domain.version,
                "chainId": domain.chain_id,
                "verifyingContract": domain.verifying_contract,
            },
            "message": self.typed_message(),
        }

    def check_ranges(self) -> None:
        """Raise :class:`ValidationError` if a field does not fit its Solidity type."""
        for name, encode in self.field_encoders():
            try:
                encode(getattr(self, name))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValidationError(f"{self.TYPE_NAME}.{camel(name)}: {exc}") from None


_struct_type_hashes: dict[type[Eip712Struct], bytes] = {}
_field_encoders: dict[type[Eip712Struct], tuple[tuple[str, Callable[[Any], bytes]], ...]] = {}
