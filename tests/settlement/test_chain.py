"""Chain adapters: finding anvil, starting it on loopback, and stopping it."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkpool.errors import ChainError
from darkpool.settlement import chain as chain_module
from darkpool.settlement.chain import RpcChain, anvil_binary, start_anvil
from tests.environment import missing


def test_anvil_binary_when_nothing_installed_raises_chain_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DARKPOOL_ANVIL", "/nonexistent/anvil")
    monkeypatch.setattr(chain_module, "_REPO_ANVIL", Path("/nonexistent/too"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ChainError, match="npm ci"):
        anvil_binary()


@pytest.mark.chain
def test_start_anvil_when_context_exits_then_process_stops() -> None:
    try:
        anvil_binary()
    except ChainError as error:
        missing(f"anvil unavailable: {error}")
    with start_anvil(chain_id=4242) as chain:
        assert chain.w3.eth.chain_id == 4242
        url = chain.url
    with pytest.raises(Exception):  # noqa: B017 - any connection error means it stopped
        _ = RpcChain(url, timeout_s=2).w3.eth.chain_id


@pytest.mark.chain
def test_advance_time_when_embedded_then_block_time_moves() -> None:
    chain = chain_module.TesterChain()
    before = chain.w3.eth.get_block("latest")["timestamp"]
    chain.advance_time(3600)
    assert chain.w3.eth.get_block("latest")["timestamp"] >= before + 3600


@pytest.mark.chain
def test_add_signer_when_key_funded_then_transactions_are_signed_locally() -> None:
    from darkpool.settlement.contracts import MockToken

    chain = chain_module.TesterChain()
    address = chain.add_signer("0x" + "42" * 32)
    chain.w3.eth.send_transaction({"from": chain.accounts[0], "to": address, "value": 10**18})
    token = MockToken.deploy(chain, address)
    token.mint(address, address, 5)
    assert token.balance_of(address) == 5


@pytest.mark.chain
def test_embedded_chain_when_one_thread_reads_while_another_transacts_then_neither_fails() -> None:
    """The operator's pollers read the embedded chain from worker threads while others send to it."""
    import threading

    from darkpool.settlement.oracle import PriceFeed

    chain = chain_module.TesterChain()
    owner = chain.accounts[0]
    feed = PriceFeed.deploy(chain, owner, "ETH / USD")
    feed.post_raw(owner, 1)
    failures: list[BaseException] = []
    posting = True

    def read() -> None:
        while posting:
            try:
                feed.latest()
            except Exception as error:  # any failure is what this test looks for
                failures.append(error)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for answer in range(2, 151):
            feed.post_raw(owner, answer)
    finally:
        posting = False
        reader.join(60)
    assert failures == [] and feed.latest().raw == 150
