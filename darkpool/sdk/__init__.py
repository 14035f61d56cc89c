"""The institution SDK: keys, sync and async clients, on-chain deposits and withdrawals, proof checks."""

from darkpool.sdk._client import AsyncDarkPoolClient, DarkPoolClient
from darkpool.sdk._keys import Identity, create_key, load_key
from darkpool.sdk._ops import CommitTicket, FheTicket, Ops
from darkpool.sdk._verify import verify_batches

__all__ = [
    "AsyncDarkPoolClient",
    "CommitTicket",
    "DarkPoolClient",
    "FheTicket",
    "Identity",
    "Ops",
    "create_key",
    "load_key",
    "verify_batches",
]
