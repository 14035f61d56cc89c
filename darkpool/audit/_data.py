"""What an auditor reads: the operator's published data, chain events and the custodian's log.

Fetching is separate from checking: :class:`AuditData` is plain data, and the checks in
:mod:`darkpool.audit._checks` are pure functions of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from darkpool.errors import DarkPoolError
from darkpool.ledger import JournalEntry

__all__ = ["AuditData", "ChainView", "fetch_chain", "fetch_custodian_log", "fetch_feed_rounds", "fetch_operator"]


@dataclass(frozen=True)
class ChainView:
    """What the chain says: committed batches, sealed commitment roots, vault holdings, claimed withdrawals."""

    batches: list[dict[str, Any]]
    sealed_roots: dict[int, str]
    vault_holdings: int
    claimed: set[int]
    feed_rounds: dict[tuple[str, int], tuple[float, int]] = field(default_factory=dict)
    """``(feed, round) -> (price, updatedAt)`` of every price-feed round the journal's marks name."""


@dataclass
class AuditData:
    journal: list[JournalEntry]
    batches: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    round_summaries: list[dict[str, Any]]
    chain: ChainView | None = None
    custodian_log: list[dict[str, Any]] | None = None
    domain: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _journal(http: httpx.Client, path: str) -> list[JournalEntry]:
    entries: list[JournalEntry] = []
    while True:
        response = http.get(path, params={"after": entries[-1].seq if entries else 0, "limit": 10_000})
        response.raise_for_status()
        page = [JournalEntry.from_json_dict(raw) for raw in response.json()]
        if not page:
            return entries
        entries.extend(page)


def fetch_operator(http: httpx.Client) -> AuditData:
    """Read the journal, batches and published rounds from an operator."""
    batches = http.get("/batches")
    rounds = http.get("/audit/rounds")
    summaries = http.get("/rounds")
    for response in (batches, rounds, summaries):
        response.raise_for_status()
    info = http.get("/info")
    info.raise_for_status()
    return AuditData(_journal(http, "/audit/journal"), batches.json(), rounds.json(), summaries.json(),
                     domain=info.json())


def fetch_custodian_log(http: httpx.Client) -> list[dict[str, Any]]:
    """Read the custodian's hash-chained decryption log."""
    response = http.get("/log")
    response.raise_for_status()
    entries: list[dict[str, Any]] = response.json()
    return entries


def fetch_chain(w3: Any, vault: str) -> ChainView:
    """Read batches, sealed roots, holdings and claims of ``vault`` from the chain (``w3``: a connected Web3)."""
    from darkpool.settlement import Chain, MockToken, Vault

    contract = Vault(Chain(w3), vault)
    events = contract.contract.events
    batches = [
        {"batch_id": int(e["args"]["batchId"]),
         "balances_root": "0x" + bytes(e["args"]["balancesRoot"]).hex(),
         "fills_root": "0x" + bytes(e["args"]["fillsRoot"]).hex(),
         "withdrawals_root": "0x" + bytes(e["args"]["withdrawalsRoot"]).hex(),
         "journal_head": "0x" + bytes(e["args"]["journalHead"]).hex(),
         "deposits_credited": int(e["args"]["depositsCredited"])}
        for e in events.BatchCommitted().get_logs(from_block=0)
    ]
    sealed = {int(e["args"]["roundId"]): "0x" + bytes(e["args"]["commitmentsRoot"]).hex()
              for e in events.CommitmentsSealed().get_logs(from_block=0)}
    claimed = {int(e["args"]["withdrawalId"]) for e in events.WithdrawalClaimed().get_logs(from_block=0)}
    # Any ERC-20 answers balanceOf; the test token's wrapper is the public one that reads it.
    holdings = MockToken(contract.chain, contract.token_address()).balance_of(contract.address)
    return ChainView(batches, sealed, holdings, claimed)


def fetch_feed_rounds(w3: Any, journal: list[JournalEntry]) -> dict[tuple[str, int], tuple[float, int]]:
    """Read from the chain every price-feed round the journal's marks were taken from."""
    from darkpool.settlement import Chain
    from darkpool.settlement.oracle import PriceFeed

    chain = Chain(w3)
    feeds: dict[str, PriceFeed] = {}
    rounds: dict[tuple[str, int], tuple[float, int]] = {}
    for entry in journal:
        if entry.is_redacted or entry.kind != "mark":
            continue
        payload = entry.data()
        feed, round_id = payload.get("feed"), payload.get("feed_round")
        if not feed or not round_id or (feed, round_id) in rounds:
            continue
        reader = feeds.setdefault(feed, PriceFeed(chain, feed))
        try:
            answer = reader.round_data(round_id)
        except DarkPoolError:  # no such round (or no such feed): the check reports the mark as unbacked
            continue
        rounds[(feed, round_id)] = (answer.price, answer.updated_at)
    return rounds
