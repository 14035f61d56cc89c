"""EIP-712 digests against digests computed independently of darkpool's hashing code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from darkpool.errors import ValidationError
from darkpool.signing import (
    Cancel,
    Commitment,
    FheOrder,
    MaskDelivery,
    MaskRequest,
    SigningDomain,
    SlotGrant,
    SlotReservation,
    TypedMessage,
    WithdrawalRequest,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "eip712.json").read_text())
DOMAIN = SigningDomain(chain_id=31337, verifying_contract="0x" + "5e" * 20)
ALICE = "0x" + "a1" * 20

SAMPLES: list[TypedMessage] = [
    FheOrder(ALICE, "ETH-PERP", 7, 3, bytes(range(32)), 299_996, 299_992, 8, "c" * 16, 6,
             1_900_000_000),
    SlotReservation(ALICE, "ETH-PERP", 7, 11, 1_900_000_000),
    MaskRequest(ALICE, 7, 3, bytes(range(64, 96)), 12, 1_900_000_000),
    Commitment(ALICE, "ETH-PERP", 7, bytes(range(32)), 10**18, 8, 1_900_000_000),
    Cancel(ALICE, 7, 5, 9, 1_900_000_000),
    WithdrawalRequest(ALICE, "0x" + "70" * 20, 2 * 10**18, 10, 1_900_000_000),
    SlotGrant("0x" + "0e" * 20, ALICE, 7, 3, bytes(range(96, 128))),
    MaskDelivery("0x" + "c0" * 20, ALICE, 7, 3, bytes(range(128, 160)), bytes(range(160, 192))),
]


def _eth_account_digest(message: TypedMessage, domain: SigningDomain) -> bytes:
    signable = encode_typed_data(full_message=message.typed_data(domain))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def test_domain_separator_when_eip712_spec_example_matches_published_value() -> None:
    # The domain of EIP-712's own example ("Ether Mail"), with the separator the EIP publishes.
    domain = SigningDomain(1, "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", name="Ether Mail", version="1")
    assert domain.separator.hex() == "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.TYPE_NAME)
def test_digest_when_any_message_type_equals_eth_account(message: TypedMessage) -> None:
    assert message.digest(DOMAIN) == _eth_account_digest(message, DOMAIN)


def test_digest_when_commitment_equals_hand_built_abi_encoding() -> None:
    order = next(m for m in SAMPLES if isinstance(m, Commitment))
    type_hash = keccak(
        text="Commitment(address account,string instrument,uint64 roundId,bytes32 commitment,uint256 bond,"
        "uint64 nonce,uint64 expiry)"
    )
    struct = keccak(abi_encode(
        ["bytes32", "address", "bytes32", "uint64", "bytes32", "uint256", "uint64", "uint64"],
        [type_hash, order.account, keccak(text=order.instrument), order.round_id, order.commitment,
         order.bond, order.nonce, order.expiry],
    ))
    assert order.digest(DOMAIN) == keccak(b"\x19\x01" + DOMAIN.separator + struct)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["type"] for v in VECTORS])
def test_digest_when_frozen_vector_matches(vector: dict[str, str]) -> None:
    message = next(m for m in SAMPLES if vector["type"] == m.TYPE_NAME)
    assert message.digest(DOMAIN).hex() == vector["digest"]


@given(
    round_id=st.integers(0, 2**64 - 1), commitment=st.binary(min_size=32, max_size=32),
    bond=st.integers(0, 2**256 - 1), nonce=st.integers(0, 2**64 - 1), instrument=st.text(max_size=12),
)
def test_digest_when_random_commitment_equals_eth_account(
    round_id: int, commitment: bytes, bond: int, nonce: int, instrument: str
) -> None:
    order = Commitment(ALICE, instrument, round_id, commitment, bond, nonce, 2**40)
    assert order.digest(DOMAIN) == _eth_account_digest(order, DOMAIN)


def test_check_ranges_when_field_overflows_names_field() -> None:
    with pytest.raises(ValidationError, match=r"Commitment\.nonce"):
        Commitment(ALICE, "X", 1, bytes(32), 1, 2**64, 1).check_ranges()
