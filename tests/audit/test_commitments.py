"""The auditor's ABI-encoded commitments equal the operator's fast commitment scheme."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from commit_reveal import CommitmentScheme, Reveal, Salt
from darkpool.audit._recompute import commitment_hash
from darkpool.domain import Lots, Side, Ticks, account


@given(
    holder=st.binary(min_size=20, max_size=20), instrument=st.text(min_size=1, max_size=40),
    round_id=st.integers(0, 2**64 - 1), side=st.sampled_from(Side), limit=st.integers(-(2**63), 2**63 - 1),
    quantity=st.integers(1, 2**64 - 1), nonce=st.integers(0, 2**64 - 1), salt=st.binary(min_size=32, max_size=32),
)
def test_commitment_hash_when_any_order_equals_operator_scheme(
    holder: bytes, instrument: str, round_id: int, side: Side, limit: int, quantity: int, nonce: int, salt: bytes
) -> None:
    who = account("0x" + holder.hex())
    operator = CommitmentScheme(instrument, round_id).commitment(
        Reveal(who, nonce, side, Ticks(limit), Lots(quantity), Salt(salt))
    )
    assert commitment_hash(who, instrument, round_id, int(side), limit, quantity, nonce, salt) == operator
