"""Keccak-256 and the few ABI encodings the project hashes by hand; the one place for hashing."""

from __future__ import annotations

try:  # safe-pysha3: a thin C binding, ~1 µs a hash against ~11 µs through pycryptodome's cffi layer
    from sha3 import keccak_256 as _fast_keccak
except ImportError:  # pragma: no cover - pycryptodome is always there
    _fast_keccak = None

from Crypto.Hash import keccak as _keccak

__all__ = ["address_word", "int_word", "keccak256", "uint_word"]


def _keccak256_pycryptodome(*parts: bytes) -> bytes:
    h = _keccak.new(digest_bits=256)
    for part in parts:
        h.update(part)
    return h.digest()


def _keccak256_pysha3(*parts: bytes) -> bytes:
    digest: bytes = _fast_keccak(b"".join(parts)).digest()
    return digest


keccak256 = _keccak256_pycryptodome if _fast_keccak is None else _keccak256_pysha3
"""Keccak-256 (Ethereum's, not NIST SHA3) of the concatenated parts."""


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
