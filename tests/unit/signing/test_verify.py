"""Verification: every failure is its own error, and a rejected message spends no nonce."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account

from darkpool.errors import (
    ExpiredMessage,
    InvalidSignature,
    MalleableSignature,
    ReplayedMessage,
    WrongChainId,
    WrongVerifyingContract,
)
from darkpool.signing import (
    SECP256K1_N,
    Commitment,
    Signed,
    SigningDomain,
    Verifier,
    WithdrawalRequest,
    recover_digest,
    sign,
)

KEY = Account.from_key(bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
OTHER = Account.from_key(b"\x02" * 32)
DOMAIN = SigningDomain(chain_id=31337, verifying_contract="0x" + "5e" * 20)
NOW = 1_800_000_000


def _order(nonce: int = 1, expiry: int = NOW + 60, account: str = KEY.address) -> Commitment:
    return Commitment(account, "ETH-PERP", 4, bytes(range(32)), 10, nonce, expiry)


def _verifier() -> Verifier:
    return Verifier(DOMAIN, clock=lambda: NOW)


def test_verify_when_valid_returns_signer_and_spends_nonce() -> None:
    verifier = _verifier()
    assert verifier.verify(sign(_order(), DOMAIN, KEY.key)) == KEY.address.lower()
    assert verifier.nonces.is_spent(KEY.address.lower(), 1)


@pytest.mark.parametrize("key", [KEY.key, "0x" + bytes(KEY.key).hex()], ids=["bytes", "hex"])
def test_sign_when_any_message_equals_eth_account_wallet_signature(key: bytes | str) -> None:
    for message in (_order(), WithdrawalRequest(KEY.address, "0x" + "70" * 20, 10**18, 3, NOW + 60)):
        wallet = Account.sign_typed_data(KEY.key, full_message=message.typed_data(DOMAIN))
        assert sign(message, DOMAIN, key).signature == bytes(wallet.signature)


def test_recover_when_signed_by_eth_account_matches_eth_account_recovery() -> None:
    signed = sign(_order(), DOMAIN, KEY.key)
    digest = signed.message.digest(DOMAIN)
    expected = Account._recover_hash(digest, signature=signed.signature)
    assert recover_digest(digest, signed.signature) == expected.lower()


def test_verify_when_replayed_raises_replayed_message() -> None:
    verifier = _verifier()
    signed = sign(_order(), DOMAIN, KEY.key)
    verifier.verify(signed)
    with pytest.raises(ReplayedMessage):
        verifier.verify(signed)


def test_verify_when_high_s_raises_malleable_signature() -> None:
    signed = sign(_order(), DOMAIN, KEY.key)
    r, s, v = signed.signature[:32], int.from_bytes(signed.signature[32:64], "big"), signed.signature[64]
    flipped = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    # The flipped signature is a valid ECDSA signature of the same digest by the same key...
    assert Account._recover_hash(signed.message.digest(DOMAIN), signature=flipped) == KEY.address
    verifier = _verifier()
    with pytest.raises(MalleableSignature, match="upper half"):
        verifier.verify(dataclasses.replace(signed, signature=flipped))
    assert len(verifier.nonces) == 0


def test_verify_when_v_not_27_or_28_raises_malleable_signature() -> None:
    signed = sign(_order(), DOMAIN, KEY.key)
    with pytest.raises(MalleableSignature, match="v must be"):
        _verifier().verify(dataclasses.replace(signed, signature=signed.signature[:64] + b"\x01"))


def test_verify_when_other_chain_raises_wrong_chain_id() -> None:
    signed = sign(_order(), SigningDomain(1, DOMAIN.verifying_contract), KEY.key)
    with pytest.raises(WrongChainId, match="expected chain id 31337, got 1"):
        _verifier().verify(signed)


def test_verify_when_signed_for_other_chain_but_relabelled_raises_invalid_signature() -> None:
    signed = sign(_order(), SigningDomain(1, DOMAIN.verifying_contract), KEY.key)
    with pytest.raises(InvalidSignature):
        _verifier().verify(dataclasses.replace(signed, chain_id=DOMAIN.chain_id))


def test_verify_when_other_contract_raises_wrong_verifying_contract() -> None:
    signed = sign(_order(), SigningDomain(DOMAIN.chain_id, "0x" + "99" * 20), KEY.key)
    with pytest.raises(WrongVerifyingContract):
        _verifier().verify(signed)


@pytest.mark.parametrize("expiry", [NOW, NOW - 1])
def test_verify_when_expired_raises_expired_message(expiry: int) -> None:
    verifier = _verifier()
    with pytest.raises(ExpiredMessage):
        verifier.verify(sign(_order(expiry=expiry), DOMAIN, KEY.key))
    assert len(verifier.nonces) == 0


def test_verify_when_signed_by_another_account_raises_invalid_signature() -> None:
    verifier = _verifier()
    forged = sign(_order(account=KEY.address), DOMAIN, OTHER.key)
    with pytest.raises(InvalidSignature):
        verifier.verify(forged)
    assert len(verifier.nonces) == 0


def test_verify_when_message_tampered_after_signing_raises_invalid_signature() -> None:
    signed = sign(_order(), DOMAIN, KEY.key)
    tampered = Signed(dataclasses.replace(_order(), bond=11), signed.chain_id,
                      signed.verifying_contract, signed.signature)
    with pytest.raises(InvalidSignature):
        _verifier().verify(tampered)


def test_verify_when_nonce_reused_across_message_types_raises_replayed() -> None:
    verifier = _verifier()
    verifier.verify(sign(_order(nonce=9), DOMAIN, KEY.key))
    request = WithdrawalRequest(KEY.address, "0x" + "70" * 20, 5, 9, NOW + 60)
    with pytest.raises(ReplayedMessage):
        verifier.verify(sign(request, DOMAIN, KEY.key))


def test_recover_when_garbage_signature_raises_invalid_signature() -> None:
    with pytest.raises(InvalidSignature):
        recover_digest(b"\x00" * 32, b"\x00" * 64 + b"\x1b")
    with pytest.raises(InvalidSignature):
        recover_digest(b"\x00" * 32, b"\x01" * 10)
