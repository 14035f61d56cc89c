"""Settlement benchmark: contract gas and Merkle root time. Prints JSON lines {"metric","value","unit",...}.

Gas is the same on every EVM; it is measured on py-evm in process (``--chain anvil`` for anvil).
Merkle times are wall-clock on this machine, with a plain pycryptodome loop over the same leaves
as the baseline measured in the same run.

    python benchmarks/settlement.py [--chain eth-tester|anvil] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from Crypto.Hash import keccak as cryptodome_keccak

from darkpool.crypto.merkle import StandardMerkleTree, leaf_hash, make_tree, process_proof
from darkpool.domain import Account, Fill, Lots, OrderId, Side, Ticks
from darkpool.settlement import (
    BALANCE_LEAF,
    WITHDRAWAL_LEAF,
    BatchInput,
    SettlementBatcher,
    WithdrawalRecord,
)
from darkpool.settlement.chain import Chain, TesterChain, start_anvil
from darkpool.settlement.contracts import MockToken, Vault

GRACE_PERIOD_S = 7 * 24 * 3600
CHALLENGE_WINDOW_S = 3600


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def _setup(chain: Chain) -> tuple[MockToken, Vault, list[str]]:
    accounts = chain.accounts
    token = MockToken.deploy(chain, accounts[0])
    vault = Vault.deploy(chain, accounts[0], token.address, accounts[0], GRACE_PERIOD_S, auditors=accounts[4:7],
                         veto_threshold=2, challenge_window_s=CHALLENGE_WINDOW_S)
    for user in accounts[1:4]:
        token.mint(accounts[0], user, 10**18)
        token.approve(user, vault.address, 2**256 - 1)
        vault.deposit(user, 10**15)
    return token, vault, accounts


def measure_gas(chain: Chain) -> None:
    token, vault, accounts = _setup(chain)
    operator, users = accounts[0], accounts[1:4]
    batcher = SettlementBatcher(vault, operator)
    head = "0x" + "ab" * 32
    balances = {u: 10**15 - 1000 for u in users}
    withdrawals = tuple(WithdrawalRecord(i + 1, users[i % 3], 100) for i in range(30))
    first = batcher.settle(BatchInput(1, token.address, balances, head, 3, (), withdrawals))
    fills = tuple(
        Fill(7, OrderId(f"o{i}"), Account(users[i % 3]), "ETH-PERP", Side(i % 2), Lots(1 + i % 5),
             Ticks(300000 + i % 16))
        for i in range(1000)
    )
    more = tuple(WithdrawalRecord(1000 + i, users[i % 3], 100) for i in range(30))
    steady = batcher.settle(BatchInput(2, token.address, balances, head, 3, fills, more))
    emit(
        "gas_commit_batch",
        steady.tx.gas_used,
        "gas",
        bar=150_000,
        aim=60_000,
        chain=chain.name,
        note="steady state: a new batch record (balances and withdrawals roots, commit time, credits)",
    )
    emit(
        "gas_commit_batch_first",
        first.tx.gas_used,
        "gas",
        chain=chain.name,
        note="first batch: every slot written from zero",
    )
    emit("gas_per_fill_1000", round(steady.tx.gas_used / len(fills), 2), "gas/fill", bar=150, chain=chain.name)
    no_withdrawals = batcher.settle(BatchInput(3, token.address, balances, head, 3, fills))
    emit("gas_commit_batch_no_withdrawals", no_withdrawals.tx.gas_used, "gas", chain=chain.name)

    # A depth-20 proof: the gas of a claim depends only on the proof length, not on the tree.
    siblings = [os.urandom(32) for _ in range(20)]
    claimer = users[0]
    cases = [
        ("gas_withdraw_claim_depth20", 256 * 10, "fresh nullifier word (worst case)"),
        ("gas_withdraw_claim_depth20_warm_word", 256 * 10 + 1, "nullifier word already used"),
    ]
    for batch_id, (metric, withdrawal_id, note) in enumerate(cases, start=4):
        root = process_proof(leaf_hash(WITHDRAWAL_LEAF, (withdrawal_id, claimer, 500)), siblings)
        vault.commit_batch(operator, batch_id, steady.balances_root, head, "0x" + root.hex(), head, 3)
        chain.advance_time(CHALLENGE_WINDOW_S)
        finalized = vault.finalize(accounts[9], batch_id)
        if batch_id == 4:
            emit("gas_finalize", finalized.gas_used, "gas", chain=chain.name,
                 note="finalize(batchId) after the window: final batch id and event (claims finalize on the way)")
        claim = vault.claim_withdrawal(accounts[9], batch_id, withdrawal_id, claimer, 500, siblings)
        emit(
            metric,
            claim.gas_used,
            "gas",
            bar=100_000,
            proof_length=20,
            chain=chain.name,
            note=note + "; batch already final; recipient already holds tokens",
        )

    # Vetoes: 2 of 3 auditors; the first records, the second reaches the threshold and freezes the vault.
    vault.commit_batch(operator, 6, steady.balances_root, head, head, head, 3)
    first_veto = vault.veto(accounts[4], 6)
    emit("gas_veto", first_veto.gas_used, "gas", chain=chain.name, note="a veto below the threshold (1 of 2)")
    freezing = vault.veto(accounts[5], 6)
    emit("gas_veto_freezing", freezing.gas_used, "gas", chain=chain.name,
         note="the veto that reaches the threshold: batch vetoed, vault frozen")


@contextmanager
def _timed() -> Iterator[list[float]]:
    out: list[float] = []
    gc.collect()
    start = time.perf_counter()
    yield out
    out.append(time.perf_counter() - start)


def _baseline_root(leaves: list[bytes]) -> bytes:
    """Return the root with a straightforward index loop and pycryptodome keccak."""
    tree = [b""] * (len(leaves) - 1) + leaves[::-1]
    for i in range(len(leaves) - 2, -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = cryptodome_keccak.new(digest_bits=256, data=a + b if a <= b else b + a).digest()
    return tree[0]


def measure_merkle(sizes: list[int]) -> None:
    token = "0x" + "70" * 20
    for size in sizes:
        values = [("0x" + f"{i:040x}", token, i * 1_000_003) for i in range(1, size + 1)]
        with _timed() as full:
            tree = StandardMerkleTree.of(values, BALANCE_LEAF)
        nodes = tree.nodes
        leaves = [nodes[-1 - i] for i in range(size)]
        del tree, nodes
        with _timed() as nodes_only:
            root = make_tree(leaves)[0]
        label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        emit(
            f"merkle_root_time_{label}",
            round(full[0], 4),
            "s",
            leaves=size,
            what="StandardMerkleTree.of: abi-encode + double-keccak every leaf, sort, all nodes",
        )
        emit(
            f"merkle_nodes_time_{label}",
            round(nodes_only[0], 4),
            "s",
            leaves=size,
            what="internal nodes only, from leaf hashes",
        )
        if size <= 100_000:
            with _timed() as base:
                assert _baseline_root(leaves) == root
            emit(
                f"merkle_nodes_time_{label}_baseline",
                round(base[0], 4),
                "s",
                leaves=size,
                what="baseline: index loop with pycryptodome keccak",
            )
        del values, leaves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=["eth-tester", "anvil"], default="eth-tester")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skip-gas", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_gas:
        context: AbstractContextManager[Chain] = start_anvil() if args.chain == "anvil" else nullcontext(TesterChain())
        with context as chain:
            measure_gas(chain)
    measure_merkle([int(s) for s in args.sizes.split(",") if s])
    return 0


if __name__ == "__main__":
    sys.exit(main())
