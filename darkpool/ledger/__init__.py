"""The operator's ledger: a hash-chained durable journal and the registries replayed from it.

Every accepted message gets a sequence number and is appended to the journal before it is
acknowledged; a restart replays the journal to the same state. SQLite in WAL mode is the embedded
default and PostgreSQL is used for a ``postgresql://`` URL. Core code: no FastAPI, httpx or web3.
"""

from darkpool.ledger._books import Books, Deposit, Withdrawal
from darkpool.ledger._chain import (
    GENESIS_HEAD,
    JournalEntry,
    Seq,
    canonical_json,
    head_from_digest,
    next_head,
    verify_chain,
)
from darkpool.ledger._journal import Appended, Journal, journal_head_hex, open_store
from darkpool.ledger._store import JournalStore, SqliteStore

__all__ = [
    "GENESIS_HEAD",
    "Appended",
    "Books",
    "Deposit",
    "Journal",
    "JournalEntry",
    "JournalStore",
    "Seq",
    "SqliteStore",
    "Withdrawal",
    "canonical_json",
    "journal_head_hex",
    "head_from_digest",
    "next_head",
    "open_store",
    "verify_chain",
]
