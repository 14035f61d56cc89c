"""Chains the settlement contracts run on: py-evm in process, anvil on loopback, any JSON-RPC node.

Every adapter exposes the same :class:`Chain` surface (a ``Web3``, funded unlocked accounts, time
travel and snapshots for tests), so contract code and tests do not care which one runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from darkpool.errors import ChainError

__all__ = ["AnvilNode", "Chain", "RpcChain", "TesterChain", "anvil_binary", "embedded_chain", "start_anvil"]

ANVIL_ENV = "DARKPOOL_ANVIL"
_REPO_ANVIL = Path(__file__).resolve().parents[2] / "contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"


class Chain:
    """A connected chain: a ``Web3`` plus the test controls every adapter implements."""

    name = "chain"

    def __init__(self, w3: Web3) -> None:
        """Wrap a connected ``Web3``."""
        self.w3 = w3

    @property
    def accounts(self) -> list[str]:
        """Return the node's unlocked, funded accounts."""
        return [str(a) for a in self.w3.eth.accounts]

    def add_signer(self, private_key: str) -> str:
        """Sign transactions from this key locally (for nodes that hold no keys); return its address."""
        from eth_account import Account
        from web3.middleware import SignAndSendRawMiddlewareBuilder

        signer = Account.from_key(private_key)
        self.w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(signer), layer=0)
        return str(signer.address)

    def advance_time(self, seconds: int) -> None:
        """Move the chain clock forward by ``seconds`` and mine a block."""
        raise ChainError(f"{self.name} cannot move its clock")

    def snapshot(self) -> object:
        """Return a handle to the current state, for :meth:`revert`."""
        raise ChainError(f"{self.name} cannot take snapshots")

    def revert(self, snapshot: object) -> None:
        """Return to a state saved by :meth:`snapshot`."""
        raise ChainError(f"{self.name} cannot revert to snapshots")

    def close(self) -> None:
        """Release whatever the adapter holds."""


class _SerialTesterProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe: a read while another thread sends a transaction can fail with a
    nonce error. A node serializes its requests; so does this one."""

    def __init__(self) -> None:
        super().__init__()
        self.serial = threading.RLock()
        """Held for each request; the chain's test controls (time travel, snapshots) take it too."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self.serial:
            return super().make_request(method, params)


class TesterChain(Chain):
    """py-evm in process through web3's ``EthereumTesterProvider`` (the embedded default).

    Its requests are serialized, so the operator's pollers may read it while other threads transact.
    """

    name = "eth-tester"

    def __init__(self) -> None:
        """Start a fresh in-process chain."""
        provider = _SerialTesterProvider()
        super().__init__(Web3(provider))
        self._tester: Any = provider.ethereum_tester
        self._serial = provider.serial  # the test controls below act on the chain directly

    def advance_time(self, seconds: int) -> None:
        with self._serial:
            latest = int(self.w3.eth.get_block("latest")["timestamp"])
            self._tester.time_travel(latest + seconds)
            self._tester.mine_blocks(1)

    def snapshot(self) -> object:
        with self._serial:
            return self._tester.take_snapshot()

    def revert(self, snapshot: object) -> None:
        with self._serial:
            self._tester.revert_to_snapshot(snapshot)


class RpcChain(Chain):
    """A JSON-RPC node; time travel and snapshots use the anvil/hardhat ``evm_*`` methods."""

    name = "json-rpc"

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        """Connect to ``url``."""
        super().__init__(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout_s})))
        self.url = url

    def _call(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in response:
            raise ChainError(f"{method} failed on {self.url}: {response['error']}")
        return response.get("result")

    def advance_time(self, seconds: int) -> None:
        self._call("evm_increaseTime", [seconds])
        self._call("evm_mine", [])

    def snapshot(self) -> object:
        return self._call("evm_snapshot", [])

    def revert(self, snapshot: object) -> None:
        if not self._call("evm_revert", [snapshot]):
            raise ChainError(f"evm_revert refused snapshot {snapshot!r}")


def embedded_chain() -> TesterChain:
    """Return a fresh in-process chain."""
    return TesterChain()


def anvil_binary() -> Path:
    """Return the anvil binary: ``$DARKPOOL_ANVIL``, the npm package in ``contracts/``, or PATH."""
    candidates = [os.environ.get(ANVIL_ENV), str(_REPO_ANVIL), shutil.which("anvil")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ChainError(
        f"anvil not found: run `cd contracts && npm ci` (installs @foundry-rs/anvil-linux-amd64) or set {ANVIL_ENV}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class AnvilNode:
    """A running anvil process on loopback."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        """Stop the process and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def _launch(binary: Path, port: int, chain_id: int) -> subprocess.Popen[bytes]:
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    return subprocess.Popen([*command, "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def start_anvil(chain_id: int = 31337, ready_timeout_s: float = 30.0) -> Iterator[RpcChain]:
    """Start anvil on a free loopback port, yield a chain connected to it, stop it after."""
    binary = anvil_binary()
    node: AnvilNode | None = None
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = _free_port()
        process = _launch(binary, port, chain_id)
        url = f"http://127.0.0.1:{port}"
        chain = RpcChain(url)
        chain.name = "anvil"
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if chain.w3.eth.chain_id == chain_id:
                    node = AnvilNode(process, url)
                    break
            except Exception:  # not listening yet
                time.sleep(0.05)
                continue
        if node is not None:
            break
        stderr = b""
        if process.poll() is None:
            process.kill()
        else:
            stderr = process.stderr.read() if process.stderr else b""
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
        if b"address already in use" not in stderr.lower():
            raise ChainError(f"anvil did not start on {url}: {stderr.decode(errors='replace')[-500:]}")
    if node is None:
        raise ChainError("anvil could not bind a loopback port")
    try:
        yield chain
    finally:
        chain.close()
        node.stop()
