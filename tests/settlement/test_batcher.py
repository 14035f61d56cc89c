"""The settlement batcher and its trees: inputs, one transaction per batch, proofs, dumps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from darkpool.audit.tree import audit_tree
from darkpool.crypto.merkle import StandardMerkleTree
from darkpool.domain import Account, Fill, Lots, OrderId, Side, Ticks
from darkpool.errors import ProtocolError, TransactionReverted, ValidationError
from darkpool.settlement import (
    BALANCE_LEAF,
    EMPTY_ROOT,
    FILL_LEAF,
    WITHDRAWAL_LEAF,
    BatchInput,
    BatchRecord,
    SettlementBatcher,
    WithdrawalRecord,
    build_trees,
    fill_leaf,
)
from darkpool.settlement.chain import Chain
from tests.settlement.conftest import CHALLENGE_WINDOW_S, Deployment, deploy

TOKEN = "0x" + "70" * 20
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b0" * 20
HEAD = "0x" + "ab" * 32


def _input(**changes: object) -> BatchInput:
    fields: dict[str, object] = {
        "batch_id": 1,
        "token": TOKEN,
        "balances": {ALICE: 10, BOB: 20},
        "journal_head": HEAD,
        "fills": (Fill(3, OrderId("a1"), Account(ALICE), "ETH-PERP", Side.BUY, Lots(4), Ticks(300000)),),
        "withdrawals": (WithdrawalRecord(9, BOB, 5),),
    }
    fields.update(changes)
    return BatchInput(**fields)  # type: ignore[arg-type]


def test_build_trees_when_batch_then_leaves_match_contract_encoding() -> None:
    trees = build_trees(_input())
    assert trees.balances.root == StandardMerkleTree.of([(ALICE, TOKEN, 10), (BOB, TOKEN, 20)], BALANCE_LEAF).root
    assert trees.withdrawals_root == StandardMerkleTree.of([(9, BOB, 5)], WITHDRAWAL_LEAF).root
    assert trees.fills_root == StandardMerkleTree.of([(3, ALICE, "ETH-PERP", "a1", 0, 4, 300000)], FILL_LEAF).root
    amount, proof = trees.balance_proof(BOB.upper().replace("0X", "0x"))
    assert amount == 20
    assert StandardMerkleTree.verify(trees.balances_root, BALANCE_LEAF, (BOB, TOKEN, 20), proof)
    ((fill, fill_proof),) = trees.fill_proofs_of(ALICE)
    assert StandardMerkleTree.verify(trees.fills_root, FILL_LEAF, fill_leaf(fill), fill_proof)


def test_fill_leaf_when_fill_then_contract_field_order_and_side_as_uint8() -> None:
    fill = Fill(0, OrderId(f"expiry:ETH-F90:{ALICE}"), Account(ALICE), "ETH-F90", Side.SELL, Lots(2), Ticks(0))
    assert fill_leaf(fill) == (0, ALICE, "ETH-F90", f"expiry:ETH-F90:{ALICE}", 1, 2, 0)


def test_fill_leaf_when_quantity_beyond_uint256_raises_validation_error() -> None:
    fill = Fill(1, OrderId("a1"), Account(ALICE), "ETH-PERP", Side.BUY, Lots(2**256), Ticks(1))
    with pytest.raises(ValidationError, match="quantity_lots"):
        fill_leaf(fill)


def test_batch_input_when_fill_is_not_a_domain_fill_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match=r"domain\.Fill"):
        _input(fills=((3, ALICE, "ETH-PERP", "a1", 0, 4, 300000),))


def test_build_trees_when_no_fills_or_withdrawals_then_roots_are_zero() -> None:
    trees = build_trees(_input(fills=(), withdrawals=()))
    assert trees.fills_root == EMPTY_ROOT == trees.withdrawals_root


@pytest.mark.parametrize(
    "changes",
    [
        {"batch_id": 0},
        {"balances": {}},
        {"balances": {ALICE: -1}},
        {"balances": {ALICE: 1, ALICE.upper().replace("0X", "0x"): 2}},
        {"journal_head": "0x12"},
        {"withdrawals": (WithdrawalRecord(1, ALICE, 1), WithdrawalRecord(1, BOB, 1))},
        {"token": "not an address"},
    ],
)
def test_batch_input_when_malformed_raises_validation_error(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _input(**changes)


def test_balance_proof_when_account_unknown_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        build_trees(_input()).balance_proof("0x" + "cc" * 20)


@pytest.mark.chain
def test_settle_when_batches_then_one_tx_each_recorded_and_dumps_audit(deployed: Deployment, tmp_path: Path) -> None:
    d = deployed
    seen: list[BatchRecord] = []
    batcher = SettlementBatcher(d.vault, d.operator, recorder=seen.append, dump_dir=tmp_path)
    alice, bob = d.users[0], d.users[1]
    d.vault.deposit(alice, 100)
    first = batcher.settle(
        BatchInput(1, d.token.address, {alice: 60, bob: 0}, HEAD, 1, (), (WithdrawalRecord(1, alice, 40),))
    )
    assert seen == [first] and batcher.records == (first,)
    assert d.vault.last_batch_id() == 1 and d.vault.balances_root() == first.balances_root
    assert d.vault.withdrawals_root(1) == first.withdrawals_root
    receipt = d.chain.w3.eth.get_transaction_receipt(first.tx.tx_hash)
    assert receipt["status"] == 1 and receipt["gasUsed"] == first.tx.gas_used
    for name in ("balances", "withdrawals"):
        dump = tmp_path / f"batch-1-{name}.json"
        assert audit_tree(dump) == json.loads(dump.read_text())["tree"][0]
    with pytest.raises(ProtocolError):
        batcher.settle(BatchInput(1, d.token.address, {alice: 60}, HEAD, 1))
    second = batcher.settle(BatchInput(2, d.token.address, {alice: 30, bob: 30}, HEAD, 1))
    assert second.withdrawals_root == EMPTY_ROOT and d.vault.withdrawals_root(2) == EMPTY_ROOT
    assert batcher.balance_proof(bob, 2).amount == 30 and batcher.balance_proof(bob, 2).batch_id == 2
    with pytest.raises(ProtocolError, match="no batch is final"):
        batcher.balance_proof(bob)
    d.finalize(2)
    assert batcher.balance_proof(bob).batch_id == 2
    assert [p.withdrawal_id for p in batcher.withdrawal_proofs(alice)] == [1]


@pytest.mark.chain
def test_seal_when_vault_frozen_then_reverts(deployed: Deployment) -> None:
    d = deployed
    d.vault.request_forced_withdrawal(d.users[0])
    d.chain.advance_time(8 * 24 * 3600)
    d.vault.freeze(d.outsider, d.users[0])
    with pytest.raises(TransactionReverted, match="VaultFrozen"):
        SettlementBatcher(d.vault, d.operator).seal_round(1, HEAD)


@pytest.fixture(scope="module")
def tester_deployment(eth_tester_chain: Chain) -> Iterator[Deployment]:
    snapshot = eth_tester_chain.snapshot()
    d = deploy(eth_tester_chain)
    d.vault.deposit(d.users[1], 10**12)  # so simulated claims can pay out
    yield d
    eth_tester_chain.revert(snapshot)


@pytest.mark.chain
@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    st.lists(st.integers(1, 10**9), min_size=1, max_size=40),
    st.integers(0, 10**6),
    st.data(),
)
def test_claim_when_python_tree_any_shape_then_contract_accepts_its_proofs(
    tester_deployment: Deployment, amounts: list[int], first_id: int, data: st.DataObject
) -> None:
    d = tester_deployment
    holder = d.users[0]
    leaves = [(first_id + i, holder, amount) for i, amount in enumerate(amounts)]
    tree = StandardMerkleTree.of(leaves, WITHDRAWAL_LEAF)
    batch_id = d.vault.last_batch_id() + 1
    d.vault.commit_batch(d.operator, batch_id, HEAD, HEAD, tree.root, HEAD, d.vault.deposits_credited())
    d.chain.advance_time(CHALLENGE_WINDOW_S)  # the simulated claim finalizes the batch first
    index = data.draw(st.integers(0, len(leaves) - 1))
    wid, _, amount = leaves[index]
    proof = [bytes.fromhex(p[2:]) for p in tree.get_proof(index)]
    claim = d.vault.contract.functions.claimWithdrawal(batch_id, wid, holder, amount, proof)
    d.vault._guard(lambda: claim.call({"from": d.outsider}))  # a simulated claim passes the proof check
    if len(leaves) > 1:
        with pytest.raises(TransactionReverted, match="InvalidProof"):
            d.vault._guard(
                lambda: d.vault.contract.functions.claimWithdrawal(batch_id, wid, holder, amount + 1, proof).call()
            )
