"""ABI words and leaf-value encoding against eth-abi."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from hypothesis import given
from hypothesis import strategies as st

from darkpool.crypto.abi import abi_encode_values, address_word, bytes32_word, dynamic_tail, int_word, uint_word
from darkpool.errors import ValidationError


@given(st.integers(0, 2**64 - 1), st.integers(-(2**63), 2**63 - 1), st.binary(min_size=20, max_size=20),
       st.binary(min_size=32, max_size=32))
def test_words_when_any_value_equal_eth_abi(unsigned: int, signed: int, address: bytes, word: bytes) -> None:
    assert uint_word(unsigned, 64) == encode(["uint64"], [unsigned])
    assert int_word(signed, 64) == encode(["int64"], [signed])
    assert address_word("0x" + address.hex()) == address_word(address) == encode(["address"], [address])
    assert bytes32_word(word) == encode(["bytes32"], [word])


@given(st.binary(max_size=100))
def test_dynamic_tail_when_any_bytes_equal_eth_abi_tail(raw: bytes) -> None:
    assert dynamic_tail(raw) == encode(["bytes"], [raw])[32:]  # after the head's offset word


@pytest.mark.parametrize(("encoder", "value"), [
    (lambda v: uint_word(v, 8), 256), (lambda v: uint_word(v), -1), (lambda v: int_word(v, 8), 128),
    (address_word, "0x" + "ab" * 19), (bytes32_word, bytes(31)),
])
def test_words_when_value_does_not_fit_raise_value_error(encoder: object, value: object) -> None:
    with pytest.raises(ValueError):
        encoder(value)  # type: ignore[operator]


@given(st.binary(min_size=20, max_size=20), st.integers(0, 2**256 - 1), st.text(max_size=20))
def test_abi_encode_values_when_json_ish_values_equal_eth_abi(address: bytes, amount: int, label: str) -> None:
    types = ["address", "uint256", "string"]
    expected = encode(types, [address, amount, label])
    assert abi_encode_values(types, ["0x" + address.hex(), str(amount), label]) == expected


def test_abi_encode_values_when_leaf_width_wrong_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="leaf of 2 values"):
        abi_encode_values(["address", "uint256"], ["0x" + "00" * 20])
