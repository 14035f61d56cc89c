"""secp256k1: signing and recovery against eth-account; canonical form enforced before recovery."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from darkpool.crypto.secp256k1 import (
    SECP256K1_N,
    address_of,
    recover_addresses,
    recover_digest,
    recover_packed,
    sign_digest,
)
from darkpool.errors import InvalidSignature, MalleableSignature, ValidationError

keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


@settings(max_examples=50)
@given(keys, digests)
def test_sign_digest_when_any_key_equals_eth_account_and_recovers(key: bytes, digest: bytes) -> None:
    signature = sign_digest(digest, key)
    assert signature == bytes(Account.unsafe_sign_hash(digest, key).signature)
    expected = Account.from_key(key).address.lower()
    assert address_of(key) == address_of("0x" + key.hex()) == expected
    assert recover_digest(digest, signature) == expected
    assert recover_addresses([digest], [signature]) == [bytes.fromhex(expected[2:])]
    assert recover_packed((digest, signature)) == bytes.fromhex(expected[2:])


def test_recover_digest_when_s_flipped_high_raises_malleable() -> None:
    key, digest = b"\x07" * 32, bytes(range(32))
    signature = sign_digest(digest, key)
    s = SECP256K1_N - int.from_bytes(signature[32:64], "big")
    with pytest.raises(MalleableSignature):
        recover_digest(digest, signature[:32] + s.to_bytes(32, "big") + bytes([55 - signature[64]]))


@pytest.mark.parametrize("bad", [b"", bytes(64) + b"\x1b", b"\x01" * 64 + b"\x1b" + b"\x00",
                                 SECP256K1_N.to_bytes(32, "big") + b"\x01" * 32 + b"\x1c"])
def test_recover_digest_when_signature_malformed_raises_invalid_signature(bad: bytes) -> None:
    with pytest.raises(InvalidSignature):
        recover_digest(bytes(32), bad)


def test_recover_digest_when_digest_not_32_bytes_raises_invalid_signature() -> None:
    signature = sign_digest(bytes(32), b"\x07" * 32)
    with pytest.raises(InvalidSignature):
        recover_digest(bytes(31), signature)


def test_recover_packed_when_signature_does_not_recover_gives_zero_address() -> None:
    assert recover_packed((bytes(32), b"\xff" * 64 + b"\x1b")) == bytes(20)


def test_sign_digest_when_key_invalid_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        sign_digest(bytes(32), bytes(32))


def test_recover_digest_when_called_from_threads_recovers_each_signer() -> None:
    # recover_digest allocates its own buffers: concurrent requests must not see each other's keys.
    keys_ = [bytes([i]) * 32 for i in range(1, 9)]
    digest = bytes(32)
    signatures = [sign_digest(digest, k) for k in keys_]
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(300):
            if recover_digest(digest, signatures[i]) != address_of(keys_[i]):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(keys_))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
