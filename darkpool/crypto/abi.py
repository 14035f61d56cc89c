"""ABI encoding: the 32-byte words hashed by hand, and ``abi.encode`` of JSON-ish leaf values.

The word encoders are the one place a value becomes an ABI word; per-order loops in
``commit_reveal`` write the same words inline (``int.to_bytes(32, "big")``) to save a call, and
tests hold those equal to these. Leaf values follow OpenZeppelin's ``StandardMerkleTree``: integers
as numbers or decimal/0x strings, addresses and bytes as 0x hex; the common static types take a
direct path, checked against eth-abi in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from eth_abi.abi import encode as abi_encode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse

from darkpool.errors import ValidationError

__all__ = [
    "abi_encode_values",
    "address_word",
    "bytes32_word",
    "dynamic_tail",
    "int_word",
    "uint_word",
    "validate_leaf_encoding",
    "values_encoder",
]

_UINT256_END = 1 << 256
_ADDRESS_PAD = bytes(12)


def uint_word(value: int, bits: int = 256) -> bytes:
    """ABI-encode an unsigned integer as one 32-byte word, checking it fits ``uint<bits>``."""
    if value < 0 or value >= 1 << bits:
        raise ValueError(f"value {value} does not fit uint{bits}")
    return value.to_bytes(32, "big")


def int_word(value: int, bits: int = 256) -> bytes:
    """ABI-encode a signed integer as one 32-byte two's-complement word, checking it fits ``int<bits>``."""
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"value {value} does not fit int{bits}")
    return value.to_bytes(32, "big", signed=True)


def address_word(address: str | bytes) -> bytes:
    """ABI-encode an address (0x hex or 20 raw bytes) as one left-padded 32-byte word."""
    raw = address if isinstance(address, bytes) else bytes.fromhex(address[2:])
    if len(raw) != 20:
        raise ValueError(f"expected a 20-byte address, got {address!r}")
    return _ADDRESS_PAD + raw


def bytes32_word(value: bytes) -> bytes:
    """ABI-encode ``bytes32``: the 32 bytes themselves, checked."""
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return bytes(value)


def dynamic_tail(raw: bytes) -> bytes:
    """ABI-encode the tail of a dynamic ``bytes``/``string``: its length word, then the bytes padded to 32."""
    return uint_word(len(raw)) + raw + bytes(-len(raw) % 32)


def _hex_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise ValidationError(f"expected {what} as 0x hex, got {value!r}")


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            negative = value.startswith("-")
            body = value[1:] if negative else value
            number = int(body, 16) if body[:2] in ("0x", "0X") else int(body, 10)
            return -number if negative else number
        except ValueError:
            pass
    raise ValidationError(f"expected an integer (number, decimal or 0x string), got {value!r}")


def _type_str(abi_type: ABIType) -> str:
    return str(abi_type.to_type_str())  # type: ignore[no-untyped-call]


_BASES = frozenset({"uint", "int", "address", "bytes", "bool", "string"})


def _check_supported(abi_type: ABIType) -> None:
    if abi_type.is_array:
        _check_supported(abi_type.item_type)
    elif isinstance(abi_type, TupleType):
        for part in abi_type.components:
            _check_supported(part)
    elif not isinstance(abi_type, BasicType) or abi_type.base not in _BASES:
        raise ValidationError(f"unsupported leaf type {_type_str(abi_type)!r}")


def _coerce(abi_type: ABIType, value: object) -> object:
    """Turn a JSON-ish value (as OpenZeppelin accepts it) into what eth_abi encodes."""
    if abi_type.is_array:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"expected a list for {_type_str(abi_type)}, got {value!r}")
        item = abi_type.item_type
        return [_coerce(item, element) for element in value]
    if isinstance(abi_type, TupleType):
        parts = abi_type.components
        if not isinstance(value, list | tuple) or len(value) != len(parts):
            raise ValidationError(f"expected {len(parts)} fields for {_type_str(abi_type)}, got {value!r}")
        return tuple(_coerce(part, element) for part, element in zip(parts, value, strict=True))
    assert isinstance(abi_type, BasicType)
    base = abi_type.base
    if base in ("uint", "int"):
        return _integer(value)
    if base == "address":
        raw = _hex_bytes(value, "an address")
        if len(raw) != 20:
            raise ValidationError(f"expected a 20-byte address, got {value!r}")
        return raw
    if base == "bytes":
        return _hex_bytes(value, _type_str(abi_type))
    if base == "bool":
        if not isinstance(value, bool):
            raise ValidationError(f"expected a boolean, got {value!r}")
        return value
    if base == "string":
        if not isinstance(value, str):
            raise ValidationError(f"expected a string, got {value!r}")
        return value
    raise ValidationError(f"unsupported leaf type {_type_str(abi_type)!r}")


def _fast_word(type_str: str) -> Callable[[object], bytes] | None:
    """Return a direct 32-byte encoder for common static types (checked against eth_abi in tests)."""
    if type_str == "uint256":

        def uint256(value: object) -> bytes:
            if type(value) is int and 0 <= value < _UINT256_END:
                return value.to_bytes(32, "big")
            number = _integer(value)
            if not 0 <= number < 1 << 256:
                raise ValidationError(f"uint256 out of range: {value!r}")
            return number.to_bytes(32, "big")

        return uint256
    if type_str == "address":

        def address(value: object) -> bytes:
            if type(value) is str and len(value) == 42 and value[:2] in ("0x", "0X"):
                try:
                    return _ADDRESS_PAD + bytes.fromhex(value[2:])
                except ValueError:
                    pass
            raw = _hex_bytes(value, "an address")
            if len(raw) != 20:
                raise ValidationError(f"expected a 20-byte address, got {value!r}")
            return _ADDRESS_PAD + raw

        return address
    if type_str == "bytes32":

        def bytes32(value: object) -> bytes:
            raw = _hex_bytes(value, "bytes32")
            if len(raw) != 32:
                raise ValidationError(f"expected 32 bytes, got {value!r}")
            return raw

        return bytes32
    return None


@lru_cache(maxsize=64)
def values_encoder(leaf_encoding: tuple[str, ...]) -> Callable[[Sequence[object]], bytes]:
    """Return ``abi.encode`` for JSON-ish values of ``leaf_encoding`` (as OpenZeppelin accepts them)."""
    try:
        types = [parse(type_str) for type_str in leaf_encoding]
        for abi_type in types:
            abi_type.validate()
            _check_supported(abi_type)
    except Exception as error:
        raise ValidationError(f"invalid leaf encoding {list(leaf_encoding)!r}: {error}") from None
    canonical = [_type_str(abi_type) for abi_type in types]
    words = [_fast_word(type_str) for type_str in canonical]
    fast = [word for word in words if word is not None]
    width = len(leaf_encoding)

    def check_width(value: Sequence[object]) -> None:
        if isinstance(value, str | bytes) or len(value) != width:
            raise ValidationError(f"expected a leaf of {width} values for {list(leaf_encoding)}, got {value!r}")

    if len(fast) == width == 3:
        first, second, third = fast

        def encode_three(value: Sequence[object]) -> bytes:
            if len(value) != 3:
                check_width(value)
            return first(value[0]) + second(value[1]) + third(value[2])

        return encode_three
    if len(fast) == width:

        def encode_fast(value: Sequence[object]) -> bytes:
            check_width(value)
            return b"".join([word(element) for word, element in zip(fast, value, strict=True)])

        return encode_fast

    def encode_general(value: Sequence[object]) -> bytes:
        check_width(value)
        args = [_coerce(abi_type, element) for abi_type, element in zip(types, value, strict=True)]
        try:
            return abi_encode(canonical, args)
        except Exception as error:
            raise ValidationError(f"cannot encode {value!r} as {list(leaf_encoding)}: {error}") from None

    return encode_general


def validate_leaf_encoding(leaf_encoding: Sequence[str]) -> None:
    """Raise ``ValidationError`` unless every entry is an ABI type that leaves can use."""
    values_encoder(tuple(leaf_encoding))


def abi_encode_values(leaf_encoding: Sequence[str], value: Sequence[object]) -> bytes:
    """Return ``abi.encode(value)`` for the types in ``leaf_encoding``."""
    return values_encoder(tuple(leaf_encoding))(value)
