"""Keccak-256: the one place the project hashes (ABI words are in :mod:`darkpool.crypto.abi`).

``keccak256`` goes through safe-pysha3's thin C binding (~1 µs a hash, against ~11 µs through
pycryptodome's cffi layer); hot loops that hash millions of leaves call :data:`new_keccak`
directly to skip even the join.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["keccak256", "new_keccak"]


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

