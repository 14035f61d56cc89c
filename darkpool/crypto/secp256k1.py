"""secp256k1 for Ethereum signatures: canonical-form checks, recovery, signing, addresses.

Everything goes straight to libsecp256k1 through coincurve's cffi binding (the backend eth-keys
itself uses when installed). Recovery costs one ``secp256k1_ecdsa_recover`` and little else:
:func:`recover_addresses` reuses module buffers for many signatures (so it is not thread-safe;
processes, not threads, spread it over cores), while :func:`recover_digest` allocates its own
and may run on any thread. Signatures are 65 bytes ``r ‖ s ‖ v`` with ``v`` 27/28 and a low
``s``, as wallets make them; anything else is refused before recovery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coincurve import PrivateKey
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from darkpool.crypto.keccak import new_keccak as _keccak
from darkpool.errors import InvalidSignature, MalleableSignature, ValidationError

__all__ = [
    "SECP256K1_N",
    "address_of",
    "check_canonical",
    "recover_addresses",
    "recover_digest",
    "recover_packed",
    "sign_digest",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of the curve's group."""

_HALF_N = (SECP256K1_N // 2).to_bytes(32, "big")
_N = SECP256K1_N.to_bytes(32, "big")
_ZERO = bytes(32)


def check_canonical(signature: bytes) -> None:
    """Raise unless ``signature`` is 65 canonical bytes ``r ‖ s ‖ v``: ``v`` 27/28, low ``s``, ``0 < r < n``.

    Raises :class:`MalleableSignature` for a high ``s`` or another ``v``, and the opaque
    :class:`InvalidSignature` for anything else.
    """
    if not isinstance(signature, bytes) or len(signature) != 65:
        raise InvalidSignature("signature must be 65 bytes")
    v = signature[64]
    if v not in (27, 28):
        raise MalleableSignature(f"signature v must be 27 or 28, got {v}")
    r, s = signature[:32], signature[32:64]
    # Equal-length big-endian byte strings compare like the numbers they encode.
    if s > _HALF_N:
        raise MalleableSignature("signature s is in the upper half of the curve order (malleable)")
    if r == _ZERO or r >= _N or s == _ZERO:
        raise InvalidSignature("signature does not verify")


_ctx = GLOBAL_CONTEXT.ctx
_parse = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
_recover = lib.secp256k1_ecdsa_recover
_serialize = lib.secp256k1_ec_pubkey_serialize
_UNCOMPRESSED = lib.SECP256K1_EC_UNCOMPRESSED


def _buffers() -> tuple[Any, Any, Any, Any, Any]:
    """Fresh cffi buffers: recoverable signature, public key, serialized key, its length, a view of it."""
    out = ffi.new("unsigned char[65]")
    return (ffi.new("secp256k1_ecdsa_recoverable_signature *"), ffi.new("secp256k1_pubkey *"), out,
            ffi.new("size_t *"), ffi.buffer(out))


_shared = _buffers()


def _recover_one(digest: bytes, signature: bytes, buffers: tuple[Any, Any, Any, Any, Any] = _shared) -> bytes | None:
    """Recover the 20 address bytes of a canonical signature, or ``None``."""
    sig, pub, out, length, view = buffers
    if not _parse(_ctx, sig, signature, signature[64] - 27):
        return None
    if not _recover(_ctx, pub, sig, digest):
        return None
    length[0] = 65
    _serialize(_ctx, out, length, pub, _UNCOMPRESSED)
    return bytes(_keccak(view[1:65]).digest()[12:])


def recover_digest(digest: bytes, signature: bytes) -> str:
    """Return the signer (lowercase 0x address) of a 32-byte digest; refuse non-canonical signatures.

    Raises like :func:`check_canonical`, and :class:`InvalidSignature` if nothing recovers.
    """
    check_canonical(signature)
    if len(digest) != 32:
        raise InvalidSignature("signature does not verify")
    address = _recover_one(digest, signature, _buffers())
    if address is None:
        raise InvalidSignature("signature does not verify")
    return "0x" + address.hex()


def recover_addresses(digests: Sequence[bytes], signatures: Sequence[bytes]) -> list[bytes | None]:
    """Recover each signer as 20 raw address bytes, or ``None``; signatures must be canonical already."""
    return [_recover_one(d, s) for d, s in zip(digests, signatures, strict=True)]


def recover_packed(payload: tuple[bytes, bytes]) -> bytes:
    """Recover signers from packed ``(digests, signatures)`` (32 and 65 bytes each) as 20-byte records.

    A signature that does not recover gives 20 zero bytes (the zero address has no known key).
    Packed bytes cost little to pickle, so worker processes take and return this form.
    """
    digests, signatures = payload
    return b"".join(
        _recover_one(digests[32 * i : 32 * i + 32], signatures[65 * i : 65 * i + 65]) or bytes(20)
        for i in range(len(digests) // 32)
    )


def _private_key(private_key: bytes | str | PrivateKey) -> PrivateKey:
    if isinstance(private_key, PrivateKey):
        return private_key
    try:
        raw = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else private_key
        return PrivateKey(raw)
    except Exception:  # coincurve raises plain ValueError/Exception on an invalid key
        raise ValidationError("expected a 32-byte secp256k1 private key in 1..n-1") from None


def sign_digest(digest: bytes, private_key: bytes | str | PrivateKey) -> bytes:
    """Sign a 32-byte digest; return 65 bytes ``r ‖ s ‖ v`` with ``v`` 27/28.

    RFC 6979 nonces and low ``s``, as eth-account signs: the bytes are the same (tests hold them equal).
    """
    raw = _private_key(private_key).sign_recoverable(digest, hasher=None)
    return bytes(raw[:64]) + bytes([raw[64] + 27])


def address_of(private_key: bytes | str | PrivateKey) -> str:
    """Return the lowercase 0x Ethereum address of a private key; raise :class:`ValidationError` if invalid."""
    public = _private_key(private_key).public_key.format(compressed=False)
    return "0x" + bytes(_keccak(public[1:]).digest()[12:]).hex()
