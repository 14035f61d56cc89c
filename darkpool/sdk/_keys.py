"""Institution keys: create or load an Ethereum key, sign EIP-712 messages with it."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account as _EthAccount

from darkpool.domain import Account, account
from darkpool.errors import ValidationError
from darkpool.signing import Signed, SigningDomain, TypedMessage, sign

__all__ = ["Identity", "create_key", "load_key"]


@dataclass(frozen=True)
class Identity:
    """An institution's key and address."""

    private_key: bytes
    address: Account

    @classmethod
    def from_key(cls, private_key: bytes | str) -> Identity:
        raw = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else private_key
        if len(raw) != 32:
            raise ValidationError(f"a private key is 32 bytes, got {len(raw)}")
        return cls(raw, account(_EthAccount.from_key(raw).address))

    @classmethod
    def generate(cls) -> Identity:
        return cls.from_key(secrets.token_bytes(32))

    def sign(self, message: TypedMessage, domain: SigningDomain) -> Signed:
        """Sign ``message`` under ``domain``."""
        return sign(message, domain, self.private_key)

    def __repr__(self) -> str:  # never print the key
        return f"Identity({self.address})"


def create_key(path: str | Path) -> Identity:
    """Create a new key and write it to ``path`` (mode 0600); refuse to overwrite."""
    target = Path(path)
    identity = Identity.generate()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"address": identity.address, "private_key": "0x" + identity.private_key.hex()}, out)
    return identity


def load_key(path: str | Path) -> Identity:
    """Load a key written by :func:`create_key`."""
    try:
        data = json.loads(Path(path).read_text())
        return Identity.from_key(data["private_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"cannot load key from {path}: {exc}") from None
