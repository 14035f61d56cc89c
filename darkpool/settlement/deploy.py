"""Deploy the demo's settlement contracts and fund institutions (embedded chain or anvil)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3.types import Wei

from darkpool.settlement import Chain, MockToken, Vault
from darkpool.settlement.contracts import DEFAULT_CHALLENGE_WINDOW_S

__all__ = ["Deployment", "deploy", "fund_institution"]


@dataclass(frozen=True)
class Deployment:
    """Addresses of a deployed token and vault, and the operator account that runs the vault."""

    token: str
    vault: str
    operator: str
    chain_id: int
    auditors: tuple[str, ...] = ()


def deploy(chain: Chain, grace_period_s: int = 86_400, *, challenge_window_s: int | None = None,
           auditors: Sequence[str] | None = None, veto_threshold: int = 1) -> Deployment:
    """Deploy a mock token and a vault whose operator is the node's first account.

    The auditors default to the node's second account (one auditor, whose one veto stops a batch);
    the challenge window to the default, or half the grace period when that is shorter.
    """
    if challenge_window_s is None:
        challenge_window_s = min(DEFAULT_CHALLENGE_WINDOW_S, grace_period_s // 2)
    owner = chain.accounts[0]
    chosen = tuple(a.lower() for a in (auditors if auditors is not None else chain.accounts[1:2]))
    token = MockToken.deploy(chain, owner)
    vault = Vault.deploy(chain, owner, token.address, owner, grace_period_s, auditors=chosen,
                         veto_threshold=veto_threshold, challenge_window_s=challenge_window_s)
    return Deployment(token.address.lower(), vault.address.lower(), owner, int(chain.w3.eth.chain_id), chosen)


def fund_institution(chain: Chain, deployment: Deployment, holders: Sequence[str], tokens: int,
                     wei: int = 10**18) -> None:
    """Give each holder gas money and ``tokens`` base units of the mock token."""
    w3 = chain.w3
    owner = chain.accounts[0]
    token = MockToken(chain, deployment.token)
    for holder in holders:
        address = w3.to_checksum_address(holder)
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": owner, "to": address, "value": Wei(wei)}))
        token.mint(owner, address, tokens)
