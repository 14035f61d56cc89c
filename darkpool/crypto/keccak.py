"""Keccak-256 and the few ABI encodings the project hashes by hand; the one place for hashing.

``keccak256`` goes through safe-pysha3's thin C binding (~1 µs a hash, against ~11 µs through
pycryptodome's cffi layer); hot loops that hash millions of leaves call :data:`new_keccak`
directly to skip even the join.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["address_word", "int_word", "keccak256", "new_keccak", "uint_word"]


class _Hash(Protocol):
    def digest(self) -> bytes: ...


def _backend() -> Callable[[bytes], _Hash]:
    try:
        from sha3 import keccak_256

        return keccak_256  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - safe-pysha3 is a declared dependency
        from Crypto.Hash import keccak

        def pycryptodome(data: bytes = b"") -> Any:
            return keccak.new(digest_bits=256, data=data)

        return pycryptodome


new_keccak: Callable[[bytes], _Hash] = _backend()
"""A keccak-256 hasher of ``data``: ``new_keccak(data).digest()``."""


def keccak256(*parts: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not NIST SHA3) of the concatenated parts."""
    return bytes(new_keccak(b"".join(parts)).digest())


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


def address_word(address: str) -> bytes:
    """ABI-encode a 0x address as one left-padded 32-byte word."""
    raw = bytes.fromhex(address[2:])
    if len(raw) != 20:
        raise ValueError(f"expected a 20-byte address, got {address!r}")
    return bytes(12) + raw
