"""An institution's own transactions: deposit into the vault, claim withdrawals, read committed batches.

Transactions are signed locally with the institution's key and sent raw, so this works on any
node (py-evm in process, anvil, a public JSON-RPC endpoint) without unlocked accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web3 import Web3

from darkpool.crypto.merkle import parse_hash
from darkpool.errors import TransactionReverted
from darkpool.sdk._keys import Identity
from darkpool.settlement import load_artifact

__all__ = ["Wallet", "chain_batches"]


class Wallet:
    """Send the vault and token calls of one institution."""

    def __init__(self, w3: Web3, identity: Identity, vault: str, token: str) -> None:
        self.w3 = w3
        self.identity = identity
        self.address = w3.to_checksum_address(identity.address)
        self.vault = w3.eth.contract(address=w3.to_checksum_address(vault), abi=load_artifact("DarkPoolVault").abi)
        self.token = w3.eth.contract(address=w3.to_checksum_address(token), abi=load_artifact("MockERC20").abi)

    def _send(self, call: Any) -> str:
        tx = call.build_transaction({"from": self.address, "nonce": self.w3.eth.get_transaction_count(self.address),
                                     "chainId": self.w3.eth.chain_id})
        signed = self.w3.eth.account.sign_transaction(tx, self.identity.private_key)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise TransactionReverted("revert", (), f"transaction {tx_hash.hex()} failed")
        return "0x" + bytes(receipt["transactionHash"]).hex()

    def deposit(self, amount: int) -> str:
        """Approve the vault and deposit ``amount`` base units; return the deposit transaction hash."""
        self._send(self.token.functions.approve(self.vault.address, amount))
        return self._send(self.vault.functions.deposit(amount))

    def claim_withdrawal(self, batch_id: int, withdrawal_id: int, amount: int, proof: Sequence[str]) -> str:
        """Claim a committed withdrawal with its proof; return the transaction hash."""
        return self._send(self.vault.functions.claimWithdrawal(
            batch_id, withdrawal_id, self.address, amount, [parse_hash(p) for p in proof]))

    def request_forced_withdrawal(self) -> str:
        """Start the escape hatch: if the operator does not serve it within the grace period, anyone may freeze."""
        return self._send(self.vault.functions.requestForcedWithdrawal())

    def freeze(self) -> str:
        """Freeze the vault because this account's forced withdrawal went unserved."""
        return self._send(self.vault.functions.freeze(self.address))

    def escape(self, amount: int, proof: Sequence[str]) -> str:
        """After a freeze, take this account's last committed balance with its proof."""
        return self._send(self.vault.functions.escape(self.address, amount, [parse_hash(p) for p in proof]))

    def token_balance(self) -> int:
        return int(self.token.functions.balanceOf(self.address).call())


def chain_batches(w3: Web3, vault: str, from_block: int = 0) -> list[dict[str, Any]]:
    """Return every ``BatchCommitted`` event of ``vault`` as a dict of roots."""
    contract = w3.eth.contract(address=w3.to_checksum_address(vault), abi=load_artifact("DarkPoolVault").abi)
    logs = contract.events.BatchCommitted().get_logs(from_block=from_block)
    return [
        {"batch_id": int(e["args"]["batchId"]),
         "balances_root": "0x" + bytes(e["args"]["balancesRoot"]).hex(),
         "fills_root": "0x" + bytes(e["args"]["fillsRoot"]).hex(),
         "withdrawals_root": "0x" + bytes(e["args"]["withdrawalsRoot"]).hex(),
         "journal_head": "0x" + bytes(e["args"]["journalHead"]).hex(),
         "deposits_credited": int(e["args"]["depositsCredited"]),
         "block": int(e["blockNumber"])}
        for e in logs
    ]
