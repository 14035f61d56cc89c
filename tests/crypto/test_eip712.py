"""EIP-712 machinery on a struct of its own, against eth-account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from darkpool.crypto.eip712 import (
    Eip712Struct,
    camel,
    domain_separator,
    struct_hash,
    type_hash,
    typed_data_digest,
)
from darkpool.errors import ValidationError


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: str
    name: str = "Ether Mail"
    version: str = "1"


@dataclass(frozen=True, slots=True)
class Note(Eip712Struct):
    TYPE_NAME: ClassVar[str] = "Note"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "author": "address", "body_text": "string", "payload": "bytes", "tag": "bytes32", "score": "int32",
        "amount": "uint256",
    }
    author: str
    body_text: str
    payload: bytes
    tag: bytes
    score: int
    amount: int


DOMAIN = Domain(1, "0xcccccccccccccccccccccccccccccccccccccccc")


def test_domain_separator_when_eip712_example_matches_published_value() -> None:
    assert domain_separator(DOMAIN).hex() == "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"


@given(st.binary(min_size=20, max_size=20), st.text(max_size=30), st.binary(max_size=70),
       st.binary(min_size=32, max_size=32), st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**256 - 1),
       st.integers(1, 2**64))
def test_digest_when_any_struct_equals_eth_account(
    author: bytes, body: str, payload: bytes, tag: bytes, score: int, amount: int, chain_id: int
) -> None:
    note = Note("0x" + author.hex(), body, payload, tag, score, amount)
    domain = Domain(chain_id, "0x" + "5e" * 20)
    signable = encode_typed_data(full_message=note.typed_data(domain))
    assert note.digest(domain) == keccak(b"\x19" + signable.version + signable.header + signable.body)
    fields = [encode(getattr(note, name)) for name, encode in note.field_encoders()]
    assert note.digest(domain) == typed_data_digest(domain_separator(domain), struct_hash(note.type_hash(), *fields))


def test_type_hash_when_struct_hashed_is_keccak_of_type_string() -> None:
    expected = "Note(address author,string bodyText,bytes payload,bytes32 tag,int32 score,uint256 amount)"
    assert Note.type_string() == expected
    assert Note.type_hash() == type_hash(Note.type_string()) == keccak(text=Note.type_string())
    assert camel("quantity_lots_max") == "quantityLotsMax"


def test_check_ranges_when_field_overflows_names_field() -> None:
    with pytest.raises(ValidationError, match=r"Note\.score"):
        Note("0x" + "00" * 20, "", b"", bytes(32), 2**31, 0).check_ranges()
