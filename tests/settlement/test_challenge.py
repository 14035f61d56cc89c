"""The challenge window on both chains: finality, auditor vetoes, cancel delay, forced-request limit, config checks."""

from __future__ import annotations

import pytest

from darkpool.errors import TransactionReverted
from darkpool.settlement import BatchInput, SettlementBatcher, Vault, WithdrawalRecord
from tests.settlement.conftest import CANCEL_DELAY_S, CHALLENGE_WINDOW_S, GRACE_PERIOD_S, Deployment

pytestmark = pytest.mark.chain

HEAD = "0x" + "ab" * 32
ZERO = "0x" + "00" * 20


def _reverts(name: str) -> pytest.RaisesContext[TransactionReverted]:
    return pytest.raises(TransactionReverted, match=rf"\b{name}\b")


def _honest_then_pending(d: Deployment) -> SettlementBatcher:
    """Batch 1 (final): alice 1000, bob 500. Batch 2 (pending): alice withdraws everything."""
    alice, bob = d.users[0], d.users[1]
    d.vault.deposit(alice, 1000)
    d.vault.deposit(bob, 500)
    batcher = SettlementBatcher(d.vault, d.operator)
    batcher.settle(BatchInput(1, d.token.address, {alice: 1000, bob: 500}, HEAD, 2))
    d.finalize(1)
    batcher.settle(BatchInput(2, d.token.address, {alice: 0, bob: 500}, HEAD, 2, (),
                              (WithdrawalRecord(1, alice, 1000),)))
    return batcher


def test_claim_when_batch_in_window_then_reverts_and_changes_nothing(deployed: Deployment) -> None:
    d = deployed
    batcher = _honest_then_pending(d)
    (claim,) = batcher.withdrawal_proofs(d.users[0])
    with _reverts("ChallengeWindowOpen"):
        d.vault.claim_withdrawal(d.operator, 2, claim.withdrawal_id, claim.account, claim.amount, claim.proof)
    assert not d.vault.is_claimed(1) and d.vault.final_batch_id() == 1
    with _reverts("ChallengeWindowOpen"):
        d.vault.finalize(d.outsider, 2)
    d.chain.advance_time(CHALLENGE_WINDOW_S)
    d.vault.claim_withdrawal(d.outsider, 2, claim.withdrawal_id, claim.account, claim.amount, claim.proof)
    assert d.vault.final_batch_id() == 2 and d.vault.batch(2).is_final
    with _reverts("AlreadyFinal"):
        d.vault.finalize(d.outsider, 2)


def test_veto_when_threshold_reached_then_frozen_and_escapes_pay_last_final_root(deployed: Deployment) -> None:
    d = deployed
    alice, bob, carol = d.users
    batcher = _honest_then_pending(d)
    stolen = SettlementBatcher(d.vault, d.operator)  # the operator gives itself everything in batch 3
    stolen.settle(BatchInput(3, d.token.address, {d.operator: 1500}, HEAD, 2))
    with _reverts("NotAuditor"):
        d.vault.veto(d.outsider, 3)
    d.vault.veto(d.auditors[0], 3)
    with _reverts("AlreadyVetoed"):
        d.vault.veto(d.auditors[0], 3)
    assert not d.vault.is_frozen() and d.vault.batch(3).vetoes == 1
    d.vault.veto(d.auditors[1], 3)
    state = d.vault.batch(3)
    assert d.vault.is_frozen() and state.vetoed and not state.is_final and state.vetoes == 2
    d.chain.advance_time(CHALLENGE_WINDOW_S * 10)
    with _reverts("VaultFrozen"):
        d.vault.finalize(d.outsider, 3)
    (claim,) = batcher.withdrawal_proofs(alice)  # batch 2 never became final either
    with _reverts("BatchNotFinal"):
        d.vault.claim_withdrawal(alice, 2, claim.withdrawal_id, alice, claim.amount, claim.proof)
    grab = stolen.balance_proof(d.operator, 3)
    with _reverts("InvalidProof"):
        d.vault.escape(d.operator, d.operator, grab.amount, grab.proof)
    assert d.vault.final_batch_id() == 1 and d.vault.final_balances_root() == batcher.records[0].balances_root
    for holder, amount in ((alice, 1000), (bob, 500)):
        proof = batcher.balance_proof(holder)
        before = d.token.balance_of(holder)
        d.vault.escape(d.outsider, holder, proof.amount, proof.proof)
        assert d.token.balance_of(holder) - before == amount
    assert d.token.balance_of(d.vault.address) == 0
    with _reverts("VaultFrozen"):
        d.vault.veto(d.auditors[2], 3)
    del carol


def test_veto_when_window_passed_or_batch_unknown_then_reverts(deployed: Deployment) -> None:
    d = deployed
    _honest_then_pending(d)
    with _reverts("ChallengeWindowClosed"):
        d.vault.veto(d.auditors[0], 1)
    with _reverts("UnknownBatch"):
        d.vault.veto(d.auditors[0], 9)
    d.chain.advance_time(CHALLENGE_WINDOW_S)
    with _reverts("ChallengeWindowClosed"):
        d.vault.veto(d.auditors[0], 2)
    assert d.vault.batch(2).vetoes == 0 and not d.vault.is_frozen()


def test_escape_when_no_batch_final_then_reverts_and_deposits_reclaimable(deployed: Deployment) -> None:
    d = deployed
    alice = d.users[0]
    d.vault.deposit(alice, 700)
    SettlementBatcher(d.vault, d.operator).settle(BatchInput(1, d.token.address, {alice: 700}, HEAD, 1))
    d.vault.request_forced_withdrawal(alice)
    d.chain.advance_time(GRACE_PERIOD_S + 1)
    d.vault.freeze(d.outsider, alice)  # batch 1's window passed, but nobody finalized it before the freeze
    with _reverts("NoFinalBatch"):
        d.vault.escape(alice, alice, 700, [])
    d.vault.reclaim_deposit(d.outsider, 1, alice, 700)
    assert d.token.balance_of(d.vault.address) == 0


def test_reclaim_when_uncredited_past_cancel_delay_then_returns_without_freeze(deployed: Deployment) -> None:
    d = deployed
    alice, bob = d.users[0], d.users[1]
    d.vault.deposit(alice, 100)
    d.vault.deposit(bob, 200)
    SettlementBatcher(d.vault, d.operator).settle(BatchInput(1, d.token.address, {alice: 100}, HEAD, 1))
    with _reverts("CancelDelayRunning"):
        d.vault.reclaim_deposit(bob, 2, bob, 200)
    d.chain.advance_time(CANCEL_DELAY_S)
    with _reverts("DepositNotReclaimable"):
        d.vault.reclaim_deposit(alice, 1, alice, 100)  # credited by a committed batch
    with _reverts("DepositNotReclaimable"):
        d.vault.reclaim_deposit(bob, 2, bob, 201)
    before = d.token.balance_of(bob)
    d.vault.reclaim_deposit(d.outsider, 2, bob, 200)
    assert d.token.balance_of(bob) - before == 200 and not d.vault.is_frozen()
    with _reverts("DepositNotReclaimable"):
        d.vault.reclaim_deposit(bob, 2, bob, 200)


def test_forced_requests_when_over_block_limit_then_reverts(eth_tester_chain) -> None:  # type: ignore[no-untyped-def]
    chain = eth_tester_chain
    snapshot = chain.snapshot()
    try:
        from darkpool.settlement import MockToken

        accounts = chain.accounts
        token = MockToken.deploy(chain, accounts[0])
        vault = Vault.deploy(chain, accounts[0], token.address, accounts[0], GRACE_PERIOD_S, auditors=accounts[4:5],
                             max_forced_requests_per_block=1)
        tester = chain._tester
        tester.disable_auto_mine_transactions()
        try:
            first = vault.contract.functions.requestForcedWithdrawal().transact({"from": accounts[1]})
            second = vault.contract.functions.requestForcedWithdrawal().transact({"from": accounts[2]})
            tester.mine_blocks(1)
        finally:
            tester.enable_auto_mine_transactions()
        receipts = [chain.w3.eth.get_transaction_receipt(h) for h in (first, second)]
        assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
        assert [r["status"] for r in receipts] == [1, 0]
        vault.request_forced_withdrawal(accounts[2])  # the next block takes it
        assert vault._read("forcedRequestedAt", accounts[2]) > 0
    finally:
        chain.revert(snapshot)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"auditors": []}, "BadConfig"),
        ({"auditors": [ZERO], "veto_threshold": 1}, "ZeroAddress"),
        ({"veto_threshold": 4}, "BadConfig"),
        ({"veto_threshold": 0}, "BadConfig"),
        ({"challenge_window_s": GRACE_PERIOD_S}, "BadConfig"),
        ({"max_forced_requests_per_block": 0}, "BadConfig"),
        ({"operator": ZERO}, "ZeroAddress"),
    ],
)
def test_deploy_when_config_bad_then_reverts(deployed: Deployment, change: dict, error: str) -> None:  # type: ignore[type-arg]
    d = deployed
    args = {"auditors": list(d.auditors), "veto_threshold": 2, "challenge_window_s": CHALLENGE_WINDOW_S,
            "max_forced_requests_per_block": 8, "operator": d.operator}
    args.update(change)
    operator = args.pop("operator")
    factory = d.chain.w3.eth.contract(abi=d.vault.contract.abi, bytecode=_bytecode())
    ctor = factory.constructor(d.token.address, d.chain.w3.to_checksum_address(operator), GRACE_PERIOD_S,
                               args["challenge_window_s"], CANCEL_DELAY_S,
                               [d.chain.w3.to_checksum_address(a) for a in args["auditors"]], args["veto_threshold"],
                               args["max_forced_requests_per_block"])
    with _reverts(error):
        d.vault._guard(lambda: ctor.estimate_gas({"from": d.operator}))


def _bytecode() -> str:
    from darkpool.settlement import load_artifact

    return load_artifact("DarkPoolVault").bytecode


def test_claim_or_escape_when_account_zero_then_reverts(deployed: Deployment) -> None:
    d = deployed
    with _reverts("ZeroAddress"):
        d.vault.claim_withdrawal(d.outsider, 1, 1, ZERO, 1, [])
    with _reverts("ZeroAddress"):
        d.vault.freeze(d.outsider, ZERO)
