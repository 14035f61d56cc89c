"""DarkPoolVault on both chains: claims, operator rules, forced withdrawal, freeze and escape."""

from __future__ import annotations

import pytest
from web3.types import Wei

from darkpool.errors import TransactionReverted
from darkpool.sdk import Identity
from darkpool.settlement import BatchInput, CommittedBatch, MockToken, SettlementBatcher, WithdrawalRecord
from tests.settlement.conftest import CHALLENGE_WINDOW_S, GRACE_PERIOD_S, Deployment, deploy

pytestmark = pytest.mark.chain

HEAD = "0x" + "ab" * 32


def _batch(d: Deployment, batch_id: int, balances: dict[str, int], withdrawals=(), credited: int = 0) -> BatchInput:
    return BatchInput(
        batch_id=batch_id,
        token=d.token.address,
        balances=balances,
        journal_head=HEAD,
        deposits_credited=credited,
        withdrawals=tuple(WithdrawalRecord(i, a, n) for i, a, n in withdrawals),
    )


def _settled(d: Deployment) -> SettlementBatcher:
    """Alice deposits 1000 and withdraws 300; bob deposits 500; batch 1 commits it and becomes final."""
    alice, bob = d.users[0], d.users[1]
    d.vault.deposit(alice, 1000)
    d.vault.deposit(bob, 500)
    batcher = SettlementBatcher(d.vault, d.operator)
    batcher.settle(_batch(d, 1, {alice: 700, bob: 500}, [(1, alice, 300)], credited=2))
    d.finalize(1)
    return batcher


def _reverts(name: str) -> pytest.RaisesContext[TransactionReverted]:
    return pytest.raises(TransactionReverted, match=rf"\b{name}\b")


def test_claim_when_deposit_batch_and_proof_then_pays_account(deployed: Deployment) -> None:
    d = deployed
    batcher = _settled(d)
    alice = d.users[0]
    before = d.token.balance_of(alice)
    (claim,) = batcher.withdrawal_proofs(alice)
    d.vault.claim_withdrawal(d.outsider, claim.batch_id, claim.withdrawal_id, claim.account, claim.amount, claim.proof)
    assert d.token.balance_of(alice) == before + 300
    assert d.vault.is_claimed(1)
    assert d.token.balance_of(d.vault.address) == 1200


def test_claim_when_claimed_twice_then_reverts_already_claimed(deployed: Deployment) -> None:
    d = deployed
    (claim,) = _settled(d).withdrawal_proofs(d.users[0])
    args = (claim.batch_id, claim.withdrawal_id, claim.account, claim.amount, claim.proof)
    d.vault.claim_withdrawal(d.users[0], *args)
    with _reverts("AlreadyClaimed"):
        d.vault.claim_withdrawal(d.users[0], *args)


def test_claim_when_proof_for_other_account_or_amount_then_reverts_invalid_proof(deployed: Deployment) -> None:
    d = deployed
    (claim,) = _settled(d).withdrawal_proofs(d.users[0])
    with _reverts("InvalidProof"):
        d.vault.claim_withdrawal(d.users[1], 1, claim.withdrawal_id, d.users[1], claim.amount, claim.proof)
    with _reverts("InvalidProof"):
        d.vault.claim_withdrawal(d.users[0], 1, claim.withdrawal_id, claim.account, claim.amount + 1, claim.proof)
    with _reverts("UnknownBatch"):
        d.vault.claim_withdrawal(d.users[0], 2, claim.withdrawal_id, claim.account, claim.amount, claim.proof)


def test_claim_when_balance_leaf_offered_as_withdrawal_then_reverts(deployed: Deployment) -> None:
    d = deployed
    batcher = _settled(d)
    escape = batcher.balance_proof(d.users[1])
    with _reverts("InvalidProof"):
        d.vault.claim_withdrawal(d.users[1], 1, 0, escape.account, escape.amount, escape.proof)


def test_commit_when_caller_not_operator_then_reverts(deployed: Deployment) -> None:
    d = deployed
    with _reverts("NotOperator"):
        d.vault.commit_batch(d.outsider, 1, HEAD, HEAD, HEAD, HEAD, 0)
    with _reverts("NotOperator"):
        d.vault.seal_commitments(d.outsider, 1, HEAD)


def test_commit_when_batch_id_stale_then_reverts(deployed: Deployment) -> None:
    d = deployed
    d.vault.commit_batch(d.operator, 5, HEAD, HEAD, HEAD, HEAD, 0)
    for stale in (5, 4):
        with _reverts("StaleBatchId"):
            d.vault.commit_batch(d.operator, stale, HEAD, HEAD, HEAD, HEAD, 0)
    with _reverts("BadDepositsCredited"):
        d.vault.commit_batch(d.operator, 6, HEAD, HEAD, HEAD, HEAD, 1)
    assert d.vault.last_batch_id() == 5


def test_seal_when_round_sealed_twice_then_reverts(deployed: Deployment) -> None:
    d = deployed
    batcher = SettlementBatcher(d.vault, d.operator)
    batcher.seal_round(7, HEAD)
    assert d.vault.commitments_root(7) == HEAD
    with _reverts("RoundAlreadySealed"):
        batcher.seal_round(7, "0x" + "cd" * 32)


def test_freeze_when_forced_withdrawal_unserved_then_third_party_freezes_and_account_escapes(
    deployed: Deployment,
) -> None:
    d = deployed
    batcher = _settled(d)
    bob = d.users[1]
    d.vault.request_forced_withdrawal(bob)
    with _reverts("GracePeriodRunning"):
        d.vault.freeze(d.outsider, bob)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    d.vault.freeze(d.outsider, bob)
    assert d.vault.is_frozen()
    with _reverts("VaultFrozen"):
        d.vault.commit_batch(d.operator, 2, HEAD, HEAD, HEAD, HEAD, 2)
    with _reverts("VaultFrozen"):
        d.vault.deposit(bob, 1)
    before = d.token.balance_of(bob)
    proof = batcher.balance_proof(bob)
    d.vault.escape(d.outsider, proof.account, proof.amount, proof.proof)
    assert d.token.balance_of(bob) == before + 500
    (claim,) = batcher.withdrawal_proofs(d.users[0])  # committed withdrawals stay claimable
    d.vault.claim_withdrawal(d.users[0], claim.batch_id, claim.withdrawal_id, claim.account, 300, claim.proof)
    alice = batcher.balance_proof(d.users[0])
    d.vault.escape(d.users[0], alice.account, alice.amount, alice.proof)
    assert d.token.balance_of(d.vault.address) == 0


def test_escape_when_twice_then_reverts(deployed: Deployment) -> None:
    d = deployed
    batcher = _settled(d)
    bob = d.users[1]
    d.vault.request_forced_withdrawal(bob)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    d.vault.freeze(d.outsider, bob)
    proof = batcher.balance_proof(bob)
    d.vault.escape(bob, proof.account, proof.amount, proof.proof)
    with _reverts("AlreadyEscaped"):
        d.vault.escape(bob, proof.account, proof.amount, proof.proof)
    with _reverts("InvalidProof"):
        d.vault.escape(d.users[0], d.users[0], proof.amount, proof.proof)


def test_escape_when_not_frozen_then_reverts(deployed: Deployment) -> None:
    d = deployed
    proof = _settled(d).balance_proof(d.users[1])
    with _reverts("VaultNotFrozen"):
        d.vault.escape(d.users[1], proof.account, proof.amount, proof.proof)


def test_freeze_when_forced_withdrawal_served_in_time_then_reverts(deployed: Deployment) -> None:
    d = deployed
    batcher = _settled(d)
    alice = d.users[0]
    d.vault.request_forced_withdrawal(alice)
    with _reverts("ForcedRequestPending"):
        d.vault.request_forced_withdrawal(alice)
    batcher.settle(_batch(d, 2, {alice: 0, d.users[1]: 500}, [(2, alice, 700)], credited=2))
    d.chain.advance_time(CHALLENGE_WINDOW_S)  # the claim finalizes batch 2 on the way
    for claim in batcher.withdrawal_proofs(alice):  # the operator serves it by paying out
        d.vault.claim_withdrawal(d.operator, claim.batch_id, claim.withdrawal_id, alice, claim.amount, claim.proof)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    with _reverts("NoForcedRequest"):
        d.vault.freeze(d.outsider, alice)
    assert not d.vault.is_frozen()


def test_reclaim_deposit_when_uncredited_at_freeze_then_returns_once(deployed: Deployment) -> None:
    d = deployed
    _settled(d)
    carol = d.users[2]
    d.vault.deposit(carol, 250)  # deposit 3, never credited
    d.vault.request_forced_withdrawal(carol)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    d.vault.freeze(carol, carol)
    with _reverts("DepositNotReclaimable"):
        d.vault.reclaim_deposit(carol, 2, d.users[1], 500)  # credited in batch 1
    before = d.token.balance_of(carol)
    d.vault.reclaim_deposit(d.outsider, 3, carol, 250)
    assert d.token.balance_of(carol) == before + 250
    with _reverts("DepositNotReclaimable"):
        d.vault.reclaim_deposit(carol, 3, carol, 250)


def test_deposits_when_made_then_events_credit_ledger(deployed: Deployment) -> None:
    d = deployed
    start = d.chain.w3.eth.block_number
    d.vault.deposit(d.users[0], 10)
    d.vault.deposit(d.users[1], 20)
    assert d.vault.deposits(from_block=start) == [(1, d.users[0].lower(), 10), (2, d.users[1].lower(), 20)]
    with _reverts("ZeroAmount"):
        d.vault.deposit(d.users[0], 0)


def _funded_signer(d: Deployment, tokens: int) -> Identity:
    """An institution whose key the node does not hold: its transactions are signed here and sent raw."""
    who = Identity.from_key(b"\x07" * 32)
    w3 = d.chain.w3
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": d.operator, "to": w3.to_checksum_address(who.address), "value": Wei(10**18)}))
    d.token.mint(d.operator, who.address, tokens)
    return who


def test_deposit_when_signed_locally_approves_deposits_and_decodes_reverts(deployed: Deployment) -> None:
    d = deployed
    who = _funded_signer(d, 1000)
    start = d.chain.w3.eth.block_number
    d.vault.deposit(who, 400, approve=True)
    assert d.token.balance_of(who.address) == 600
    assert d.vault.deposits(from_block=start) == [(1, who.address.lower(), 400)]
    with _reverts("ZeroAmount"):
        d.vault.deposit(who, 0)
    with _reverts("NotOperator"):
        d.vault.commit_batch(who, 1, HEAD, HEAD, HEAD, HEAD, 0)
    assert d.vault.deposit_count() == 1 and d.vault.last_batch_id() == 0


def test_claim_and_escape_when_signed_locally_pay_the_institution(deployed: Deployment) -> None:
    d = deployed
    who = _funded_signer(d, 1000)
    d.vault.deposit(who, 1000, approve=True)
    batcher = SettlementBatcher(d.vault, d.operator)
    batcher.settle(_batch(d, 1, {who.address: 600}, [(1, who.address, 400)], credited=1))
    assert d.vault.committed_batches() == [CommittedBatch(
        1, batcher.records[0].balances_root, batcher.records[0].fills_root, batcher.records[0].withdrawals_root,
        HEAD, 1, batcher.records[0].tx.block_number)]
    d.finalize(1)
    (claim,) = batcher.withdrawal_proofs(who.address)
    d.vault.claim_withdrawal(who, 1, claim.withdrawal_id, who.address, claim.amount, claim.proof)
    assert d.token.balance_of(who.address) == 400
    with _reverts("AlreadyClaimed"):
        d.vault.claim_withdrawal(who, 1, claim.withdrawal_id, who.address, claim.amount, claim.proof)
    d.vault.request_forced_withdrawal(who)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    d.vault.freeze(who, who.address)
    escape = batcher.balance_proof(who.address)
    d.vault.escape(who, who.address, escape.amount, escape.proof)
    assert d.token.balance_of(who.address) == 1000


class _ReentrantToken(MockToken):
    artifact_name = "ReentrantERC20"

    @classmethod
    def deploy_plain(cls, d_chain, sender: str) -> _ReentrantToken:  # type: ignore[no-untyped-def]
        return cls(d_chain, cls._deploy_address(d_chain, sender))


def test_claim_when_token_reenters_vault_then_inner_call_fails(deployed: Deployment) -> None:
    chain = deployed.chain
    token = _ReentrantToken.deploy_plain(chain, chain.accounts[0])
    d = deploy(chain, token)
    batcher = _settled(d)
    alice = d.users[0]
    (claim,) = batcher.withdrawal_proofs(alice)
    args = (claim.batch_id, claim.withdrawal_id, alice, claim.amount, [bytes.fromhex(p[2:]) for p in claim.proof])
    payload = d.vault.contract.encode_abi("claimWithdrawal", args=list(args))
    token._send(d.operator, "arm", d.vault.address, payload)
    d.vault.claim_withdrawal(alice, *args)
    assert token._read("attackRan") and not token._read("attackSucceeded")
    assert bytes(token._read("attackReturn"))[:4] == bytes.fromhex(
        d.chain.w3.keccak(text="ReentrancyGuardReentrantCall()").hex().removeprefix("0x")[:8]
    )
    assert d.token.balance_of(d.vault.address) == 1200
