"""Chain fixtures: every contract test runs on py-evm in process and on anvil."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from darkpool.errors import ChainError
from darkpool.settlement import Chain, MockToken, TesterChain, Vault, anvil_binary, start_anvil
from tests.environment import missing

GRACE_PERIOD_S = 7 * 24 * 3600
CHALLENGE_WINDOW_S = 3600
CANCEL_DELAY_S = 2 * 24 * 3600
VETO_THRESHOLD = 2
FUNDS = 10**15


@pytest.fixture(scope="session")
def eth_tester_chain() -> TesterChain:
    return TesterChain()


@pytest.fixture(scope="session")
def anvil_chain() -> Iterator[Chain]:
    try:
        anvil_binary()
    except ChainError as error:
        missing(f"anvil chain unavailable: {error}")
    with start_anvil() as chain:
        yield chain


_BASE: dict[int, Deployment] = {}


@dataclass(frozen=True)
class Deployment:
    chain: Chain
    token: MockToken
    vault: Vault
    operator: str
    users: tuple[str, ...]
    outsider: str
    auditors: tuple[str, ...]

    def finalize(self, batch_id: int) -> None:
        """Let ``batch_id``'s challenge window pass unvetoed and make it final."""
        self.chain.advance_time(CHALLENGE_WINDOW_S)
        self.vault.finalize(self.outsider, batch_id)


def deploy(chain: Chain, token: MockToken | None = None) -> Deployment:
    accounts = chain.accounts
    operator, outsider, users, auditors = accounts[0], accounts[9], tuple(accounts[1:4]), tuple(accounts[4:7])
    token = token or MockToken.deploy(chain, operator)
    vault = Vault.deploy(chain, operator, token.address, operator, GRACE_PERIOD_S, auditors=auditors,
                         veto_threshold=VETO_THRESHOLD, challenge_window_s=CHALLENGE_WINDOW_S,
                         cancel_delay_s=CANCEL_DELAY_S)
    for user in users:
        token.mint(operator, user, FUNDS)
        token.approve(user, vault.address, 2**256 - 1)
    return Deployment(chain, token, vault, operator, users, outsider, auditors)


@pytest.fixture(params=["eth_tester", "anvil"])
def deployed(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """Yield token and vault deployed once per chain; the chain is reverted after each test."""
    chain: Chain = request.getfixturevalue(f"{request.param}_chain")
    if id(chain) not in _BASE:
        _BASE[id(chain)] = deploy(chain)
    snapshot = chain.snapshot()
    yield _BASE[id(chain)]
    chain.revert(snapshot)
