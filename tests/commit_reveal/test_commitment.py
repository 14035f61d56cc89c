"""Commitments equal keccak256(abi.encode(...)) computed by eth_abi; reveals validate themselves."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from commit_reveal import COMMITMENT_TYPES, LEAF_ENCODING, CommitmentScheme, Reveal, Salt, new_salt
from commit_reveal._records import CommitRecord
from commit_reveal._seal import build_tree as _build_tree
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.domain import Lots, Side, Ticks
from darkpool.errors import ValidationError

ALICE = "0x" + "a1" * 20

reveals = st.builds(
    Reveal,
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.integers(0, 2**64 - 1),
    st.sampled_from(Side),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(1, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)


@given(reveals, st.text(min_size=1, max_size=80), st.integers(0, 2**64 - 1))
def test_commitment_when_any_order_equals_eth_abi_encoding(reveal: Reveal, instrument: str, round_id: int) -> None:
    expected = keccak(abi_encode(list(COMMITMENT_TYPES), [
        reveal.account, instrument, round_id, int(reveal.side), reveal.limit_ticks, reveal.quantity_lots,
        reveal.nonce, reveal.salt,
    ]))
    assert CommitmentScheme(instrument, round_id).commitment(reveal) == expected


def test_commitment_when_any_field_or_salt_changes_differs() -> None:
    scheme = CommitmentScheme("ETH-PERP", 7)
    base = Reveal(ALICE, 1, Side.BUY, Ticks(300_000), Lots(5), Salt(bytes(32)))
    variants = [
        Reveal("0x" + "a2" * 20, 1, Side.BUY, Ticks(300_000), Lots(5), Salt(bytes(32))),
        Reveal(ALICE, 2, Side.BUY, Ticks(300_000), Lots(5), Salt(bytes(32))),
        Reveal(ALICE, 1, Side.SELL, Ticks(300_000), Lots(5), Salt(bytes(32))),
        Reveal(ALICE, 1, Side.BUY, Ticks(300_001), Lots(5), Salt(bytes(32))),
        Reveal(ALICE, 1, Side.BUY, Ticks(300_000), Lots(6), Salt(bytes(32))),
        Reveal(ALICE, 1, Side.BUY, Ticks(300_000), Lots(5), Salt(bytes(31) + b"\x01")),
    ]
    digests = {scheme.commitment(r) for r in variants} | {scheme.commitment(base)}
    digests |= {CommitmentScheme("ETH-PERP", 8).commitment(base), CommitmentScheme("BTC-PERP", 7).commitment(base)}
    assert len(digests) == len(variants) + 3


@pytest.mark.parametrize(
    "fields",
    [
        ("0x1234", 1, Side.BUY, 1, 1, bytes(32)),
        (ALICE, -1, Side.BUY, 1, 1, bytes(32)),
        (ALICE, 2**64, Side.BUY, 1, 1, bytes(32)),
        (ALICE, 1, 0, 1, 1, bytes(32)),
        (ALICE, 1, Side.BUY, 2**63, 1, bytes(32)),
        (ALICE, 1, Side.BUY, 1, 0, bytes(32)),
        (ALICE, 1, Side.BUY, 1, 1, bytes(31)),
        (ALICE, 1, Side.BUY, True, 1, bytes(32)),
    ],
)
def test_reveal_when_field_out_of_range_raises_validation_error(fields: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError):
        Reveal(*fields)  # type: ignore[arg-type]


def test_reveal_when_account_is_checksummed_normalises_to_lowercase() -> None:
    reveal = Reveal("0x" + "A1" * 20, 1, Side.BUY, Ticks(1), Lots(1), Salt(bytes(32)))
    assert reveal.account == ALICE


def test_new_salt_when_source_injected_uses_it_and_checks_length() -> None:
    assert new_salt(lambda n: b"\x07" * n) == b"\x07" * 32
    assert len({new_salt() for _ in range(8)}) == 8
    with pytest.raises(ValidationError):
        new_salt(lambda n: b"\x07" * (n - 1))


@given(st.lists(st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**64 - 1),
                          st.binary(min_size=32, max_size=32)), min_size=1, max_size=20,
                unique_by=lambda t: (t[0], t[1])))
def test_build_tree_when_any_commitments_equals_standard_merkle_tree(leaves: list[tuple[bytes, int, bytes]]) -> None:
    records = [CommitRecord("0x" + a.hex(), a, n, c, 0, b"", f"o{i}", i, 0, b"")  # type: ignore[arg-type]
               for i, (a, n, c) in enumerate(leaves)]
    tree = _build_tree(records)
    expected = StandardMerkleTree.of([("0x" + a.hex(), n, c) for a, n, c in leaves], LEAF_ENCODING)
    assert tree.root == expected.root
    assert tree.dump() == expected.dump()
