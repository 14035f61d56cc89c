"""Sealed boxes to an X25519 public key: how the custodian sends a slot's mask to its client only.

The client puts a fresh X25519 public key in its signed mask request; the custodian draws its own
ephemeral key, agrees a secret with the client's (RFC 7748, pycryptodome), derives a one-time
AES-256-GCM key with HKDF-SHA256 over both public keys and a context (round, slot, account), and
encrypts. Only the holder of the client's private key opens the box; any change to the ephemeral
key, nonce, body or context fails the tag. Nothing here is ours but the framing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.DH import key_agreement
from Crypto.Protocol.KDF import HKDF
from Crypto.PublicKey import ECC

from darkpool.crypto.keccak import keccak256
from darkpool.errors import InvalidReveal, ValidationError

__all__ = ["BoxKey", "SealedBox", "open_box", "seal_to"]

_INFO = b"darkpool sealed box v1"


@dataclass(frozen=True, slots=True)
class SealedBox:
    """The sender's ephemeral public key, the GCM nonce and ``ciphertext ‖ tag``."""

    ephemeral: bytes
    nonce: bytes
    body: bytes

    @property
    def digest(self) -> bytes:
        """``keccak256(ephemeral ‖ nonce ‖ body)``: what the sender signs."""
        return keccak256(self.ephemeral, self.nonce, self.body)

    def to_wire(self) -> dict[str, str]:
        return {"ephemeral": "0x" + self.ephemeral.hex(), "nonce": "0x" + self.nonce.hex(),
                "body": "0x" + self.body.hex()}

    @classmethod
    def from_wire(cls, data: dict[str, str]) -> SealedBox:
        try:
            parts = [bytes.fromhex(str(data[k]).removeprefix("0x")) for k in ("ephemeral", "nonce", "body")]
        except (KeyError, ValueError, TypeError):
            raise ValidationError("a sealed box needs hex ephemeral, nonce and body") from None
        box = cls(*parts)
        if len(box.ephemeral) != 32 or len(box.nonce) != 12 or len(box.body) < 16:
            raise ValidationError("a sealed box has a 32-byte ephemeral key, a 12-byte nonce and a tagged body")
        return box


def _public(raw: bytes) -> ECC.EccKey:
    if len(raw) != 32:
        raise ValidationError(f"an X25519 public key is 32 bytes, got {len(raw)}")
    try:
        return ECC.construct(curve="X25519", point_x=int.from_bytes(raw, "little"))
    except ValueError:
        raise ValidationError("not an X25519 public key") from None


def _key(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> bytes:
    key = HKDF(shared, 32, salt=ephemeral + recipient, hashmod=SHA256, context=_INFO + context)
    assert isinstance(key, bytes)
    return key


def _agree(private: ECC.EccKey, public: ECC.EccKey) -> bytes:
    try:
        shared = key_agreement(static_priv=private, static_pub=public, kdf=lambda z: z)
    except ValueError:  # a low-order point gives the all-zero secret
        raise ValidationError("the X25519 key agreement failed (low-order public key)") from None
    assert isinstance(shared, bytes)
    return shared


class BoxKey:
    """A recipient's X25519 key pair (the private half never leaves this object but through
    :meth:`unsafe_disclose`); ``seed``: rebuild a disclosed key."""

    def __init__(self, seed: bytes | None = None) -> None:
        if seed is not None and len(seed) != 32:
            raise ValidationError(f"an X25519 seed is 32 bytes, got {len(seed)}")
        # pycryptodome's stubs predate X25519 seeds (bytes): construct takes them all the same.
        self._private = ECC.generate(curve="X25519") if seed is None else ECC.construct(
            curve="X25519", seed=seed)  # type: ignore[arg-type]
        self.public: bytes = self._private.public_key().export_key(format="raw")

    def unsafe_disclose(self) -> bytes:
        """The private half (its 32-byte seed), which opens every box sealed to this key: only for a one-off key
        whose boxes are public by design (the mask of an FHE liquidation slot, whose order is public)."""
        return bytes(self._private.seed)

    def open(self, box: SealedBox, context: bytes) -> bytes:
        """Decrypt a box sealed to this key under ``context``; a forged or altered box is refused."""
        shared = _agree(self._private, _public(box.ephemeral))
        cipher = AES.new(_key(shared, box.ephemeral, self.public, context), AES.MODE_GCM, nonce=box.nonce)
        cipher.update(context)
        try:
            return cipher.decrypt_and_verify(box.body[:-16], box.body[-16:])
        except ValueError:
            raise InvalidReveal("the sealed box does not open under this key and context") from None


def seal_to(recipient: bytes, plain: bytes, context: bytes) -> SealedBox:
    """Encrypt ``plain`` to the X25519 public key ``recipient``, bound to ``context``."""
    public = _public(recipient)
    ephemeral = ECC.generate(curve="X25519")
    raw = ephemeral.public_key().export_key(format="raw")
    nonce = secrets.token_bytes(12)
    cipher = AES.new(_key(_agree(ephemeral, public), raw, recipient, context), AES.MODE_GCM, nonce=nonce)
    cipher.update(context)
    body, tag = cipher.encrypt_and_digest(plain)
    return SealedBox(raw, nonce, body + tag)


def open_box(key: BoxKey, box: SealedBox, context: bytes) -> bytes:
    """Decrypt ``box`` with ``key`` (see :meth:`BoxKey.open`)."""
    return key.open(box, context)
