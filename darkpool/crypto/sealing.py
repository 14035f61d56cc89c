"""Seal private journal fields (an FHE order's masked digits) under the operator's own key.

The journal is published to auditors, and anyone who holds a slot's mask ``r`` (the custodian)
could unmask published digits ``d``; so ``d`` is journaled only as AES-256-GCM ciphertext under
a key that never leaves the operator. The key lives in a 0600 file in the operator's secrets
directory (0700); the helpers below keep every service's secret files that way and refuse any
that group or others could read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from Crypto.Cipher import AES

from darkpool.errors import StorageError

__all__ = ["Sealer", "check_private", "check_private_tree", "load_or_create_key", "private_dir", "read_secret",
           "restrict_tree"]


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


def check_private(path: Path) -> None:
    """Refuse a secret file or directory that group or others may read, write or enter."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        kind, wanted = ("directory", "0700") if path.is_dir() else ("file", "0600")
        raise StorageError(f"secret {kind} {path} has mode {mode:04o}; expected {wanted} "
                           f"(no access for group or others): chmod {wanted} {path}")


def private_dir(path: Path) -> Path:
    """Return the absolute directory ``path``, created 0700 if missing; refuse one others may enter."""
    if not path.is_absolute():
        raise StorageError(f"a secrets directory must be an absolute path, got {str(path)!r}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(path)
    return path


def read_secret(path: Path) -> str:
    """Read a secret (a token) from a 0600 file, without surrounding whitespace."""
    try:
        check_private(path)
        return path.read_text().strip()
    except OSError as exc:
        raise StorageError(f"cannot read secret file {path}: {exc.strerror or exc}") from None


def check_private_tree(root: Path) -> None:
    """Refuse ``root`` or anything under it that group or others may access (nothing there: fine)."""
    if root.exists():
        for path in (root, *root.rglob("*")):
            check_private(path)


def restrict_tree(root: Path) -> None:
    """Make every directory under ``root`` 0700 and every file 0600 (for files a library wrote)."""
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def load_or_create_key(path: Path) -> bytes:
    """Read the 32-byte key at ``path`` (refused unless 0600), creating it 0600 on first use.

    A new key is written to a private staging file and linked into place, so a crash never
    leaves an empty key and two processes starting together end up with the same key.
    """
    if not path.exists():
        staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(secrets.token_bytes(32).hex())
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it first: use its key
                os.link(staging, path)
        finally:
            staging.unlink(missing_ok=True)
    check_private(path)
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StorageError(f"key file {path} does not hold 32 hex-encoded bytes")
    return key
