"""Fast digests and recovery agree with eth-account and with darkpool.signing."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from commit_reveal import CommitmentDigester, ParallelRecoverer, RememberingRecoverer, sign_message
from darkpool.crypto.secp256k1 import check_canonical, recover_addresses
from darkpool.errors import InvalidSignature, MalleableSignature, ValidationError
from darkpool.signing import SECP256K1_N, Commitment, recover_digest, sign
from tests.commit_reveal.helpers import DOMAIN, key

messages = st.builds(
    Commitment,
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.just("ETH-PERP"),
    st.just(7),
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
)


@given(messages)
def test_digest_when_any_commitment_equals_eth_account_typed_data(message: Commitment) -> None:
    digester = CommitmentDigester(DOMAIN, "ETH-PERP", 7)
    fast = digester.digest(message.account, message.commitment, message.bond, message.nonce, message.expiry)
    assert fast == message.digest(DOMAIN)
    signable = encode_typed_data(full_message=message.typed_data(DOMAIN))
    assert fast == keccak(b"\x19" + signable.version + signable.header + signable.body)


@pytest.mark.parametrize("bad", [dict(bond=-1), dict(bond=2**256), dict(nonce=2**64), dict(expiry=-1)])
def test_digest_when_field_out_of_range_raises_validation_error(bad: dict[str, int]) -> None:
    fields = dict(bond=0, nonce=0, expiry=0) | bad
    with pytest.raises(ValidationError):
        CommitmentDigester(DOMAIN, "ETH-PERP", 7).digest("0x" + "a1" * 20, bytes(32), **fields)


@settings(max_examples=20)
@given(messages, st.integers(1, 2**64))
def test_sign_message_when_any_commitment_equals_eth_account_signature(message: Commitment, n: int) -> None:
    assert sign_message(message, DOMAIN, key(n)).signature == sign(message, DOMAIN, key(n)).signature


@settings(max_examples=30)
@given(st.binary(min_size=32, max_size=32), st.integers(1, 2**64), st.binary(min_size=65, max_size=65))
def test_recover_when_valid_or_garbage_agrees_with_recover_digest(digest: bytes, n: int, garbage: bytes) -> None:
    good = bytes(Account._sign_hash(digest, key(n)).signature)  # type: ignore[attr-defined]
    for signature in (good, garbage[:64] + bytes([27 + garbage[64] % 2]), garbage):
        assert _fast_outcome(digest, signature) == _reference_outcome(digest, signature)


def _reference_outcome(digest: bytes, signature: bytes) -> object:
    try:
        return bytes.fromhex(recover_digest(digest, signature)[2:])
    except (InvalidSignature, MalleableSignature) as exc:
        return type(exc)


def _fast_outcome(digest: bytes, signature: bytes) -> object:
    try:
        check_canonical(signature)
    except (InvalidSignature, MalleableSignature) as exc:
        return type(exc)
    [address] = recover_addresses([digest], [signature])
    return InvalidSignature if address is None else address


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        (bytes(64), InvalidSignature),
        (bytes(32) + (1).to_bytes(32, "big") + b"\x1b", InvalidSignature),
        ((1).to_bytes(32, "big") + (SECP256K1_N - 1).to_bytes(32, "big") + b"\x1b", MalleableSignature),
        ((1).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x00", MalleableSignature),
        (SECP256K1_N.to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1c", InvalidSignature),
    ],
)
def test_check_canonical_when_not_canonical_raises_like_recover_digest(signature: bytes, error: type) -> None:
    with pytest.raises(error):
        check_canonical(signature)
    with pytest.raises(error):
        recover_digest(bytes(32), signature)


def test_parallel_recoverer_when_many_signatures_equals_serial() -> None:
    digests = [i.to_bytes(32, "big") for i in range(1, 601)]
    signatures = [bytes(Account._sign_hash(d, key(i % 7 + 1)).signature) for i, d in enumerate(digests)]  # type: ignore[attr-defined]
    signatures[5] = signatures[5][:10] + bytes(22) + signatures[5][32:]
    with ParallelRecoverer(processes=2, chunk=100) as pool:
        assert pool.recover(digests, signatures) == recover_addresses(digests, signatures)


def test_remembering_recoverer_when_pair_remembered_then_used_once_and_others_recovered() -> None:
    digests = [i.to_bytes(32, "big") for i in range(1, 9)]
    signatures = [bytes(Account._sign_hash(d, key(i % 3 + 1)).signature) for i, d in enumerate(digests)]  # type: ignore[attr-defined]
    truth = recover_addresses(digests, signatures)
    recoverer = RememberingRecoverer(capacity=4)
    for d, s, a in list(zip(digests, signatures, truth, strict=True))[:6]:
        recoverer.remember(d, s, a)  # type: ignore[arg-type]
    assert len(recoverer._known) == 4  # bounded: the oldest two were dropped
    assert recoverer.recover(digests, signatures) == truth
    assert recoverer._known == {}  # each remembered pair is used once


@pytest.mark.attack
def test_remembering_recoverer_when_signature_replayed_over_another_digest_then_recovered_afresh() -> None:
    """A remembered signer is keyed by the exact (digest, signature): the same signature over another
    message (a client changing its order after the front end recovered it) recovers afresh."""
    digest, other = bytes([1]) * 32, bytes([2]) * 32
    signature = bytes(Account._sign_hash(digest, key(1)).signature)  # type: ignore[attr-defined]
    recoverer = RememberingRecoverer()
    recoverer.remember(digest, signature, recover_addresses([digest], [signature])[0])  # type: ignore[arg-type]
    assert recoverer.recover([other], [signature]) == recover_addresses([other], [signature])
    assert recoverer.recover([other], [signature])[0] != recover_addresses([digest], [signature])[0]
