"""Deposit on chain, trade, settle a batch, withdraw with a proof and verify inclusion (py-evm in process)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from darkpool.errors import TransactionReverted
from darkpool.operator import create_operator_app
from darkpool.sdk import AsyncDarkPoolClient
from darkpool.settlement import Vault, embedded_chain
from darkpool.settlement.deploy import deploy, fund_institution
from darkpool.web.settings import OperatorSettings
from tests.operator.helpers import ADMIN, Clock, commit_reveal_round, deposited_world, identities

pytestmark = [pytest.mark.anyio, pytest.mark.chain]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_withdraw_when_batch_committed_claims_on_chain_with_proof(tmp_path: Path) -> None:
    chain, d, people, settings = deposited_world(tmp_path / "j.db")
    clock = Clock(int(time.time()))  # clients sign reads with the real clock: the operator starts at it too
    app = create_operator_app(settings, clock=clock, chain=chain)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    clients = [AsyncDarkPoolClient("http://op", who, transport=transport) for who in people]
    assert (await admin.admin("POST", "/admin/deposits/sync"))["credited"] == 3
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    await commit_reveal_round(admin, clients, clock)
    wid = await clients[1].withdraw(10**9)
    batch = await admin.admin("POST", "/batches")
    assert batch["withdrawals"] == [{"withdrawal_id": wid, "account": people[1].address, "amount": 10**9}]
    vault = Vault(chain, d.vault)
    on_chain = vault.committed_batches()
    assert on_chain[0].balances_root == batch["balances_root"]
    for c in clients:
        statements = await c.verify_inclusion(on_chain)
        assert any("balance" in s for s in statements)
    w = (await clients[1].proofs())[0]["withdrawals"][0]
    before = vault.token().balance_of(people[1].address)
    with pytest.raises(TransactionReverted, match="ChallengeWindowOpen"):  # not final: nobody can withdraw yet
        vault.claim_withdrawal(people[1], 1, w["withdrawal_id"], people[1].address, w["amount"], w["proof"])
    assert (await clients[1].withdrawal(wid))["claimable"] is False
    chain.advance_time(vault.challenge_window())
    assert (await clients[1].withdrawal(wid))["claimable"] is True
    vault.claim_withdrawal(people[1], 1, w["withdrawal_id"], people[1].address, w["amount"], w["proof"])
    assert vault.token().balance_of(people[1].address) == before + 10**9
    with pytest.raises(TransactionReverted, match="AlreadyClaimed"):
        vault.claim_withdrawal(people[1], 1, w["withdrawal_id"], people[1].address, w["amount"], w["proof"])
    app.state.core.journal.close()


def test_operator_when_polling_deposits_credits_new_vault_deposit(tmp_path: Path) -> None:
    import time

    from darkpool.sdk import DarkPoolClient
    from darkpool.web.serve import ServerThread

    chain = embedded_chain()
    d = deploy(chain)
    who = identities(1)[0]
    fund_institution(chain, d, [who.address], 10**9)
    settings = OperatorSettings(journal=str(tmp_path / "j.db"), chain_id=d.chain_id, vault=d.vault, token=d.token,
                                operator_address=d.operator, admin_token=ADMIN, deposit_poll_s=0.1,
                                secrets_dir=str(tmp_path / "secrets"))
    with ServerThread(create_operator_app(settings, chain=chain)) as server:
        Vault(chain, d.vault).deposit(who, 10**8, approve=True)
        with DarkPoolClient(server.url, who) as client:
            deadline = time.monotonic() + 20
            while client.balance()["balance"] != 10**8:
                assert time.monotonic() < deadline, "deposit was not credited"
                time.sleep(0.1)


async def test_escape_when_operator_ignores_forced_withdrawal_pays_last_committed_balance(tmp_path: Path) -> None:
    chain = embedded_chain()
    d = deploy(chain, grace_period_s=3600)
    people = identities(2)
    fund_institution(chain, d, [p.address for p in people], 10**9)
    vault = Vault(chain, d.vault)
    for who in people:
        vault.deposit(who, 10**8, approve=True)
    settings = OperatorSettings(journal=str(tmp_path / "j.db"), chain_id=d.chain_id, vault=d.vault, token=d.token,
                                operator_address=d.operator, admin_token=ADMIN, secrets_dir=str(tmp_path / "secrets"))
    clock = Clock(int(time.time()))  # clients sign reads with the real clock: the operator starts at it too
    app = create_operator_app(settings, clock=clock, chain=chain)
    transport = httpx.ASGITransport(app=app)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    client = AsyncDarkPoolClient("http://op", people[0], transport=transport)
    await admin.admin("POST", "/admin/deposits/sync")
    await admin.admin("POST", "/batches")
    balance = (await client.proofs())[-1]["balance"]
    chain.advance_time(vault.challenge_window())  # no auditor vetoes: the batch becomes final
    vault.finalize(people[1], 1)
    me = people[0]
    vault.request_forced_withdrawal(me)
    with pytest.raises(TransactionReverted, match="GracePeriodRunning"):
        vault.freeze(me, me.address)
    chain.advance_time(3601)  # the operator never serves it
    vault.freeze(me, me.address)
    before = vault.token().balance_of(me.address)
    vault.escape(me, me.address, balance["amount"], balance["proof"])
    assert vault.token().balance_of(me.address) - before == 10**8
    app.state.core.journal.close()
