"""Typed wrappers of the settlement contracts, and the one place chain errors are translated.

Every state-changing call sends one transaction, waits for its receipt and returns a
:class:`TxResult`. The sender is either the address of an account the node unlocks (the operator
on a dev chain, test accounts) or a :class:`Signer` whose key signs the transaction here, so an
institution's calls work on any node (py-evm in process, anvil, a public JSON-RPC endpoint).
Every revert, estimated or mined, becomes :class:`~darkpool.errors.TransactionReverted` naming
the contract's custom error.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from darkpool.crypto.merkle import parse_hash
from darkpool.errors import ChainError, TransactionReverted, ValidationError
from darkpool.settlement.chain import Chain

__all__ = [
    "DEFAULT_CANCEL_DELAY_S",
    "DEFAULT_CHALLENGE_WINDOW_S",
    "DEFAULT_MAX_FORCED_REQUESTS_PER_BLOCK",
    "Artifact",
    "BatchState",
    "CommittedBatch",
    "MockToken",
    "Sender",
    "Signer",
    "TxResult",
    "Vault",
    "load_artifact",
]

DEFAULT_CHALLENGE_WINDOW_S = 6 * 3600
"""How long auditors have to veto a batch before it becomes final, unless a deployment says otherwise."""
DEFAULT_CANCEL_DELAY_S = 2 * 24 * 3600
"""How long an uncredited deposit waits before its depositor may take it back without a freeze."""
DEFAULT_MAX_FORCED_REQUESTS_PER_BLOCK = 8

T = TypeVar("T")


class Signer(Protocol):
    """A key that signs its own transactions (the SDK's ``Identity`` is one)."""

    @property
    def address(self) -> str: ...

    @property
    def private_key(self) -> bytes: ...


Sender = str | Signer
"""Who sends a transaction: an account the node unlocks (its address), or a :class:`Signer`."""


@dataclass(frozen=True)
class Artifact:
    """ABI and creation bytecode of a compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Load a committed artifact (``DarkPoolVault`` or ``MockERC20``) from the package."""
    try:
        text = resources.files("darkpool.contracts_artifacts").joinpath(f"{name}.json").read_text()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise ChainError(f"no compiled artifact for {name!r}: {error}") from None
    data = json.loads(text)
    return Artifact(name, data["abi"], data["bytecode"], data["deployedBytecode"])


@dataclass(frozen=True)
class TxResult:
    """A mined transaction."""

    tx_hash: str
    block_number: int
    gas_used: int


def _error_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = [arg["type"] for arg in entry.get("inputs", [])]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            table[selector] = (entry["name"], types)
    return table


def _revert_data(error: BaseException) -> bytes | None:
    """Find the raw revert bytes that eth-tester keeps in the exception chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.args and isinstance(current.args[0], bytes):
            return current.args[0]
        text = str(current.args[0]) if current.args else ""
        if text.startswith("execution reverted: b"):
            try:
                found = ast.literal_eval(text.removeprefix("execution reverted: "))
            except (ValueError, SyntaxError):
                found = None
            if isinstance(found, bytes):
                return found
        current = current.__cause__ or current.__context__
    return None


def _decode_revert(data: object, table: dict[bytes, tuple[str, list[str]]]) -> TransactionReverted:
    raw = data if isinstance(data, bytes) else bytes.fromhex(str(data).removeprefix("0x"))
    found = table.get(raw[:4])
    if found is None:
        return TransactionReverted("revert", (), f"unknown revert data 0x{raw.hex()}")
    name, types = found
    try:
        args = tuple(abi_decode(types, raw[4:]))
    except Exception:
        args = ()
    return TransactionReverted(name, args)


class _Wrapper:
    artifact_name = ""

    def __init__(self, chain: Chain, address: str) -> None:
        artifact = load_artifact(self.artifact_name)
        self.chain = chain
        self.address = chain.w3.to_checksum_address(address)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=artifact.abi)
        self._errors = _error_table(artifact.abi)

    @classmethod
    def _deploy_address(cls, chain: Chain, sender: str, *args: object) -> str:
        artifact = load_artifact(cls.artifact_name)
        factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            tx_hash = factory.constructor(*args).transact({"from": sender})
            receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
        except Web3Exception as error:
            raise ChainError(f"deploying {cls.artifact_name} failed: {error}") from None
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise ChainError(f"deploying {cls.artifact_name} reverted")
        return str(receipt["contractAddress"])

    def _guard(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except ContractCustomError as error:
            raise _decode_revert(error.data, self._errors) from None
        except ContractLogicError as error:
            raise TransactionReverted("revert", (), str(error)) from None
        except Web3Exception as error:
            raise ChainError(f"{self.artifact_name} call failed: {error}") from None
        except Exception as error:  # eth-tester raises its own TransactionFailed
            if type(error).__name__ != "TransactionFailed":
                raise
            data = _revert_data(error)
            if data is None:
                raise TransactionReverted("revert", (), str(error)) from None
            raise _decode_revert(data, self._errors) from None

    def _send(self, sender: Sender, function: str, *args: object) -> TxResult:
        bound = self.contract.functions[function](*args)
        w3 = self.chain.w3

        def send() -> TxResult:
            if isinstance(sender, str):
                origin = w3.to_checksum_address(sender)
                tx_hash = bound.transact({"from": origin})
            else:
                origin = w3.to_checksum_address(sender.address)
                tx = bound.build_transaction({"from": origin, "nonce": w3.eth.get_transaction_count(origin),
                                              "chainId": w3.eth.chain_id})
                signed = w3.eth.account.sign_transaction(tx, sender.private_key)
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            if receipt["status"] != 1:
                # Mined but failed (the estimate passed): replay it where it ran for the contract's reason.
                bound.call({"from": origin}, block_identifier=max(0, receipt["blockNumber"] - 1))
                raise TransactionReverted("revert", (), f"{function} mined with status 0")
            return TxResult("0x" + bytes(receipt["transactionHash"]).hex(), receipt["blockNumber"], receipt["gasUsed"])

        return self._guard(send)

    def _read(self, function: str, *args: object) -> Any:
        return self._guard(lambda: self.contract.functions[function](*args).call())


class MockToken(_Wrapper):
    """The mintable test ERC-20."""

    artifact_name = "MockERC20"

    @classmethod
    def deploy(cls, chain: Chain, sender: str, name: str = "Mock USD", symbol: str = "mUSD") -> MockToken:
        """Deploy a fresh token with 6 decimals."""
        return cls(chain, cls._deploy_address(chain, sender, name, symbol, 6))

    def mint(self, sender: Sender, to: str, amount: int) -> TxResult:
        return self._send(sender, "mint", self.chain.w3.to_checksum_address(to), amount)

    def approve(self, owner: Sender, spender: str, amount: int) -> TxResult:
        return self._send(owner, "approve", self.chain.w3.to_checksum_address(spender), amount)

    def balance_of(self, holder: str) -> int:
        return int(self._read("balanceOf", self.chain.w3.to_checksum_address(holder)))


def _hashes(proof: Sequence[str | bytes]) -> list[bytes]:
    return [parse_hash(node) for node in proof]


@dataclass(frozen=True)
class CommittedBatch:
    """A ``BatchCommitted`` event: the roots that count, as the chain holds them."""

    batch_id: int
    balances_root: str
    fills_root: str
    withdrawals_root: str
    journal_head: str
    deposits_credited: int
    block: int


@dataclass(frozen=True)
class BatchState:
    """What the vault keeps of a batch: its roots, when it becomes final, and its vetoes."""

    batch_id: int
    balances_root: str
    withdrawals_root: str
    committed_at: int
    final_at: int
    deposits_credited: int
    vetoes: int
    vetoed: bool
    is_final: bool


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


class Vault(_Wrapper):
    """The ``DarkPoolVault`` settlement contract, for its operator, institutions and anyone watching.

    Every call names its sender (:data:`Sender`). Claims, forced withdrawals, freezes and escapes
    are open to any sender on behalf of ``account``: the contract pays ``account`` only.
    """

    artifact_name = "DarkPoolVault"

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        sender: str,
        token: str,
        operator: str,
        grace_period_s: int,
        *,
        auditors: Sequence[str],
        veto_threshold: int = 1,
        challenge_window_s: int = DEFAULT_CHALLENGE_WINDOW_S,
        cancel_delay_s: int = DEFAULT_CANCEL_DELAY_S,
        max_forced_requests_per_block: int = DEFAULT_MAX_FORCED_REQUESTS_PER_BLOCK,
    ) -> Vault:
        """Deploy a vault for ``token`` run by ``operator``; ``veto_threshold`` of ``auditors`` can veto a batch."""
        checksummed = [chain.w3.to_checksum_address(a) for a in auditors]
        return cls(chain, cls._deploy_address(
            chain, sender, chain.w3.to_checksum_address(token), chain.w3.to_checksum_address(operator),
            grace_period_s, challenge_window_s, cancel_delay_s, checksummed, veto_threshold,
            max_forced_requests_per_block))

    def _account(self, holder: str) -> str:
        return self.chain.w3.to_checksum_address(holder)

    # operator
    def commit_batch(
        self,
        operator: Sender,
        batch_id: int,
        balances_root: str,
        fills_root: str,
        withdrawals_root: str,
        journal_head: str,
        deposits_credited: int,
    ) -> TxResult:
        """Commit a batch's roots and the journal head in one transaction (operator only)."""
        roots = [parse_hash(r) for r in (balances_root, fills_root, withdrawals_root, journal_head)]
        return self._send(operator, "commitBatch", batch_id, *roots, deposits_credited)

    def finalize(self, sender: Sender, batch_id: int) -> TxResult:
        """Make ``batch_id`` (and every earlier batch) final once its challenge window has passed; anyone may."""
        return self._send(sender, "finalize", batch_id)

    def veto(self, auditor: Sender, batch_id: int) -> TxResult:
        """Veto ``batch_id`` inside its challenge window (registered auditors; the k-th veto freezes the vault)."""
        return self._send(auditor, "veto", batch_id)

    def seal_commitments(self, operator: Sender, round_id: int, commitments_root: str) -> TxResult:
        """Seal a commit-reveal round's commitments root (operator only, once per round)."""
        return self._send(operator, "sealCommitments", round_id, parse_hash(commitments_root))

    # institutions
    def deposit(self, sender: Sender, amount: int, *, approve: bool = False) -> TxResult:
        """Deposit ``amount`` base units of the vault's token; with ``approve``, approve the vault first."""
        if approve:
            self.token().approve(sender, self.address, amount)
        return self._send(sender, "deposit", amount)

    def claim_withdrawal(
        self, sender: Sender, batch_id: int, withdrawal_id: int, account: str, amount: int,
        proof: Sequence[str | bytes],
    ) -> TxResult:
        """Pay ``account`` a withdrawal committed in ``batch_id``, once, with its proof."""
        return self._send(sender, "claimWithdrawal", batch_id, withdrawal_id, self._account(account), amount,
                          _hashes(proof))

    def request_forced_withdrawal(self, sender: Sender) -> TxResult:
        """Start the escape hatch: unserved within the grace period, anyone may freeze the vault."""
        return self._send(sender, "requestForcedWithdrawal")

    def freeze(self, sender: Sender, account: str) -> TxResult:
        """Freeze the vault because ``account``'s forced withdrawal went unserved."""
        return self._send(sender, "freeze", self._account(account))

    def escape(self, sender: Sender, account: str, amount: int, proof: Sequence[str | bytes]) -> TxResult:
        """After a freeze, pay ``account`` its last committed balance once, with its proof."""
        return self._send(sender, "escape", self._account(account), amount, _hashes(proof))

    def reclaim_deposit(self, sender: Sender, deposit_id: int, account: str, amount: int,
                        deposited_at: int | None = None) -> TxResult:
        """Return a deposit to ``account``, once: after a freeze if no final batch credited it, or without
        one if no committed batch credited it within the cancel delay (``deposited_at`` read from its event)."""
        if deposited_at is None:
            deposited_at = self.deposit_time(deposit_id)
        return self._send(sender, "reclaimDeposit", deposit_id, self._account(account), amount, deposited_at)

    # views
    def token(self) -> MockToken:
        """The collateral token (an ERC-20; balances and approvals through :class:`MockToken`)."""
        return MockToken(self.chain, self.token_address())

    def token_address(self) -> str:
        return str(self._read("token"))

    def last_batch_id(self) -> int:
        return int(self._read("lastBatchId"))

    def balances_root(self) -> str:
        """Return the balances root of the latest committed batch (final or not)."""
        return self.batch(self.last_batch_id()).balances_root

    def final_batch_id(self) -> int:
        """Return the latest final batch id (0 while none is final)."""
        return int(self._read("finalBatchId"))

    def final_balances_root(self) -> str:
        """Return the balances root escapes prove against: the last final batch's."""
        return _hex(self._read("finalBalancesRoot"))

    def withdrawals_root(self, batch_id: int) -> str:
        return self.batch(batch_id).withdrawals_root

    def batch(self, batch_id: int) -> BatchState:
        """Return what the vault keeps of ``batch_id`` (zeros for an id never committed)."""
        b = self._read("batches", batch_id)
        return BatchState(batch_id, _hex(b[0]), _hex(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), bool(b[6]),
                          bool(b[7]))

    def is_auditor(self, address: str) -> bool:
        return int(self._read("auditorBit", self._account(address))) != 0

    def challenge_window(self) -> int:
        return int(self._read("challengeWindow"))

    def veto_threshold(self) -> int:
        return int(self._read("vetoThreshold"))

    def commitments_root(self, round_id: int) -> str:
        return _hex(self._read("commitmentsRoots", round_id))

    def is_frozen(self) -> bool:
        return bool(self._read("frozen"))

    def is_claimed(self, withdrawal_id: int) -> bool:
        return bool(self._read("isClaimed", withdrawal_id))

    def deposit_count(self) -> int:
        return int(self._read("depositCount"))

    def deposits_credited(self) -> int:
        """Return how many deposits the latest committed batch credits."""
        return int(self._read("depositsCredited"))

    def deposit_time(self, deposit_id: int) -> int:
        """Return the time of deposit ``deposit_id`` from its ``Deposited`` event."""
        logs = self._guard(lambda: self.contract.events.Deposited().get_logs(
            from_block=0, argument_filters={"depositId": deposit_id}))
        for e in logs:
            if int(e["args"]["depositId"]) == deposit_id:
                return int(e["args"]["depositedAt"])
        raise ValidationError(f"no deposit {deposit_id} on vault {self.address}")

    def deposits(self, from_block: int = 0) -> list[tuple[int, str, int]]:
        """Return ``(deposit_id, account, amount)`` of every ``Deposited`` event, for crediting."""
        logs = self._guard(lambda: self.contract.events.Deposited().get_logs(from_block=from_block))
        return [
            (int(e["args"]["depositId"]), str(e["args"]["account"]).lower(), int(e["args"]["amount"])) for e in logs
        ]

    def committed_batches(self, from_block: int = 0) -> list[CommittedBatch]:
        """Return every ``BatchCommitted`` event, oldest first: the roots institutions check proofs against."""
        logs = self._guard(lambda: self.contract.events.BatchCommitted().get_logs(from_block=from_block))
        return [
            CommittedBatch(int(e["args"]["batchId"]), _hex(e["args"]["balancesRoot"]), _hex(e["args"]["fillsRoot"]),
                           _hex(e["args"]["withdrawalsRoot"]), _hex(e["args"]["journalHead"]),
                           int(e["args"]["depositsCredited"]), int(e["blockNumber"]))
            for e in logs
        ]
