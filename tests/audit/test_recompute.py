"""The auditor's own leaves and roots equal the operator's, and its recomputation catches tampering."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commit_reveal import LEAF_ENCODING, run_in_process
from commit_reveal._commitment import commitment_leaf as operator_commitment_leaf
from darkpool.audit._checks import batch_roots, rounds_replay
from darkpool.audit._data import AuditData, ChainView
from darkpool.audit._merkle import EMPTY_ROOT, standard_leaf, standard_root
from darkpool.audit._recompute import (
    BALANCE_TYPES,
    COMMITMENT_LEAF_TYPES,
    FILL_TYPES,
    WITHDRAWAL_TYPES,
    commitment_leaf,
    commitments_root,
)
from darkpool.audit._recompute import (
    batch_roots as recompute_roots,
)
from darkpool.crypto.merkle import HexHash, StandardMerkleTree, make_tree
from darkpool.domain import Account, BaseUnits, Fill, Lots, Order, OrderId, Round, Side, Ticks
from darkpool.settlement import (
    BALANCE_LEAF,
    FILL_LEAF,
    WITHDRAWAL_LEAF,
    BatchId,
    BatchInput,
    WithdrawalId,
    WithdrawalRecord,
    build_trees,
)
from tests.commit_reveal.helpers import seeded_randbytes

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(0, 2**256 - 1)
names = st.text(min_size=1, max_size=16)
fills = st.builds(
    Fill, st.integers(0, 2**64 - 1), names.map(OrderId), addresses.map(Account), names, st.sampled_from(Side),
    st.integers(1, 2**256 - 1).map(Lots), st.integers(0, 2**256 - 1).map(Ticks),
)
withdrawals = st.lists(st.tuples(addresses, uint256), max_size=6).map(
    lambda rows: tuple(WithdrawalRecord(WithdrawalId(i), Account(a), BaseUnits(v)) for i, (a, v) in enumerate(rows))
)
batches = st.builds(
    BatchInput,
    batch_id=st.integers(1, 2**64 - 1).map(BatchId),
    token=addresses,
    balances=st.dictionaries(addresses.map(Account), uint256.map(BaseUnits), min_size=1, max_size=12),
    journal_head=st.just("0x" + "ab" * 32),
    fills=st.lists(fills, max_size=8).map(tuple),
    withdrawals=withdrawals,
)


def _published(batch: BatchInput) -> dict[str, Any]:
    """The batch as ``GET /batches`` serves it (leaves only; the roots the operator claims are added by callers)."""
    record = {
        "batch_id": batch.batch_id, "token": batch.token, "balances": dict(batch.balances),
        "fills": [{"round_id": f.round_id, "account": f.account, "instrument": f.instrument, "order_id": f.order_id,
                   "side": int(f.side), "quantity_lots": int(f.quantity_lots), "price_ticks": int(f.price_ticks)}
                  for f in batch.fills],
        "withdrawals": [{"withdrawal_id": w.withdrawal_id, "account": w.account, "amount": int(w.amount)}
                        for w in batch.withdrawals],
    }
    return dict(json.loads(json.dumps(record)))


def test_leaf_types_when_compared_equal_the_settlement_trees() -> None:
    assert (BALANCE_TYPES, FILL_TYPES, WITHDRAWAL_TYPES) == (BALANCE_LEAF, FILL_LEAF, WITHDRAWAL_LEAF)
    assert COMMITMENT_LEAF_TYPES == LEAF_ENCODING


@settings(max_examples=60)
@given(batches)
def test_batch_roots_when_any_batch_equal_build_trees(batch: BatchInput) -> None:
    trees = build_trees(batch)
    assert tuple(recompute_roots(_published(batch))) == (trees.balances_root, trees.fills_root, trees.withdrawals_root)


@given(st.lists(st.tuples(addresses, uint256, names, st.binary(min_size=32, max_size=32)), min_size=1, max_size=30))
def test_standard_root_when_any_values_equal_standard_merkle_tree(rows: list[tuple[str, int, str, bytes]]) -> None:
    types = ("address", "uint256", "string", "bytes32")
    tree = StandardMerkleTree.of(rows, types)
    leaves = [standard_leaf(types, (bytes.fromhex(a[2:]), n, s, b)) for a, n, s, b in rows]
    assert leaves == [tree.leaf_hash(row) for row in rows]
    assert standard_root(leaves) == tree.root_bytes


@given(st.lists(st.tuples(addresses, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32)),
                min_size=1, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_commitments_root_when_any_commitments_equal_operator_leaf_and_tree(
    rows: list[tuple[str, int, bytes]],
) -> None:
    operator_leaves = [operator_commitment_leaf(bytes.fromhex(a[2:]), n, c) for a, n, c in rows]
    assert [commitment_leaf(a, n, c) for a, n, c in rows] == operator_leaves
    operator_root = make_tree(sorted(operator_leaves))[0]
    assert commitments_root(rows) == "0x" + operator_root.hex()
    assert commitments_root(rows) == StandardMerkleTree.of(rows, LEAF_ENCODING).root


def test_commitments_root_when_no_commitments_is_the_empty_root() -> None:
    assert commitments_root([]) == EMPTY_ROOT


def test_standard_root_when_no_leaves_raises() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        standard_root([])


# --- tampering -----------------------------------------------------------------------------

ALICE, BOB, CAROL = ("0x" + c * 40 for c in "abc")
TOKEN = "0x" + "70" * 20
HONEST = BatchInput(
    batch_id=BatchId(1), token=TOKEN, journal_head=HexHash("0x" + "11" * 32),
    balances={Account(ALICE): BaseUnits(900), Account(BOB): BaseUnits(1_100), Account(CAROL): BaseUnits(500)},
    fills=(Fill(1, OrderId("o1"), Account(ALICE), "ETH-PERP", Side.BUY, Lots(3), Ticks(300_001)),
           Fill(1, OrderId("o2"), Account(BOB), "ETH-PERP", Side.SELL, Lots(3), Ticks(300_001))),
    withdrawals=(WithdrawalRecord(WithdrawalId(1), Account(CAROL), BaseUnits(50)),),
)


def _honest_record() -> dict[str, Any]:
    trees = build_trees(HONEST)
    return {**_published(HONEST), "journal_head": HONEST.journal_head, "deposits_credited": 0,
            "balances_root": trees.balances_root, "fills_root": trees.fills_root,
            "withdrawals_root": trees.withdrawals_root}


def _chain(record: dict[str, Any]) -> ChainView:
    keys = ("batch_id", "balances_root", "fills_root", "withdrawals_root", "journal_head", "deposits_credited")
    return ChainView([{k: record[k] for k in keys}], {}, 10**6, set())


def _audit(record: dict[str, Any], chain: ChainView) -> tuple[bool | None, str]:
    check = batch_roots(AuditData([], [record], [], [], chain=chain))
    return check.ok, check.detail


def test_batch_roots_when_published_batch_honest_passes() -> None:
    record = _honest_record()
    assert _audit(record, _chain(record))[0] is True


def _one_balance_changed(record: dict[str, Any]) -> None:
    record["balances"][BOB] += 1


def _one_fill_dropped(record: dict[str, Any]) -> None:
    del record["fills"][1]


@pytest.mark.attack
@pytest.mark.parametrize("tamper", [_one_balance_changed, _one_fill_dropped])
def test_batch_roots_when_published_leaves_tampered_fails_recomputation(tamper: Any) -> None:
    record = _honest_record()
    chain = _chain(record)
    tamper(record)
    ok, detail = _audit(record, chain)
    assert ok is False
    assert "published leaves give roots" in detail


@pytest.mark.attack
@pytest.mark.parametrize("tamper", [_one_balance_changed, _one_fill_dropped])
def test_batch_roots_when_tampered_batch_republished_with_own_roots_fails_against_chain(tamper: Any) -> None:
    # The operator serves altered leaves with roots recomputed to match them: the chain still holds the old roots.
    record = _honest_record()
    chain = _chain(record)
    tamper(record)
    record.update(recompute_roots(record)._asdict())
    ok, detail = _audit(record, chain)
    assert ok is False
    assert "on chain" in detail


MARKET = Round("ETH-PERP", Ticks(300_000), Ticks(299_992), 16)
ORDERS = [
    Order(OrderId("b1"), Side.BUY, Ticks(300_006), Lots(5), 0),
    Order(OrderId("s1"), Side.SELL, Ticks(299_995), Lots(4), 1),
    Order(OrderId("b2"), Side.BUY, Ticks(300_001), Lots(2), 2),
]


def _round_publication() -> dict[str, Any]:
    run = run_in_process(MARKET, ORDERS, randbytes=seeded_randbytes(7))
    return {**copy.deepcopy(run.publication), "mode": "commit_reveal"}


def _replay(publication: dict[str, Any]) -> tuple[bool | None, str]:
    check = rounds_replay(AuditData([], [], [publication], []))
    return check.ok, check.detail


def test_rounds_replay_when_publication_honest_passes() -> None:
    assert _replay(_round_publication())[0] is True


@pytest.mark.attack
def test_rounds_replay_when_commitment_dropped_fails_root() -> None:
    publication = _round_publication()
    del publication["commitments"][0]
    ok, detail = _replay(publication)
    assert ok is False
    assert "commitments give root" in detail


@pytest.mark.attack
def test_rounds_replay_when_revealed_limit_changed_fails_opening() -> None:
    publication = _round_publication()
    publication["reveals"][0]["limit_ticks"] += 1
    ok, detail = _replay(publication)
    assert ok is False
    assert "opens no commitment" in detail
