"""Seal private journal fields (an FHE order's masked digits) under the operator's own key.

The journal is published to auditors, and anyone who holds a slot's mask ``r`` (the custodian)
could unmask published digits ``d``; so ``d`` is journaled only as AES-256-GCM ciphertext under
a key that never leaves the operator. The key lives in a 0600 file beside a SQLite journal, or
comes from settings.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from Crypto.Cipher import AES

from darkpool.errors import StorageError

__all__ = ["Sealer", "load_or_create_key"]


class Sealer:
    """Encrypt and decrypt small private fields with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StorageError(f"sealing key must be 32 bytes, got {len(key)}")
        self._key = key

    def seal(self, plain: bytes, context: bytes) -> str:
        """Return ``nonce ‖ ciphertext ‖ tag`` as hex, bound to ``context`` (e.g. round and slot)."""
        nonce = secrets.token_bytes(12)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        cipher.update(context)
        body, tag = cipher.encrypt_and_digest(plain)
        return (nonce + body + tag).hex()

    def open(self, sealed: str, context: bytes) -> bytes:
        raw = bytes.fromhex(sealed)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12])
        cipher.update(context)
        try:
            return bytes(cipher.decrypt_and_verify(raw[12:-16], raw[-16:]))
        except ValueError:
            raise StorageError("a sealed journal field does not open under this operator's key") from None


def load_or_create_key(path: Path) -> bytes:
    """Read the key at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        key = bytes.fromhex(path.read_text().strip())
    else:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key.hex())
    return key
