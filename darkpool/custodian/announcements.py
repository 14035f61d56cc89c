"""The FHE rounds the operator announced in its journal, as the custodian reads them before decrypting.

The custodian follows the operator's public journal (``GET /audit/journal``: round announcements
are public entries) and checks its hash chain as it goes, so what it relies on is the same
chain whose heads the operator commits on chain with every batch. A round is decrypted only if
the journal announced it as an FHE round with the very ``Enc(R)`` the custodian issued for it:
a round the operator opened at the custodian but never announced (a dummy round for probing the
key) is refused before anything is decrypted, and an announcement that later disappears from the
journal breaks the chain that auditors check against the chain's heads.
"""

from __future__ import annotations

import json
import threading

import httpx

from darkpool.errors import DarkPoolError, ServiceUnavailable, UnannouncedRound
from darkpool.ledger import GENESIS_HEAD, JournalEntry, verify_chain

__all__ = ["AnnouncedRounds"]

PAGE = 1_000


class AnnouncedRounds:
    """FHE round id → the ``Enc(R)`` digest the operator's journal announced for it."""

    def __init__(self, operator_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=operator_url, timeout=30, transport=transport)
        self._rounds: dict[str, str] = {}
        self._head = GENESIS_HEAD
        self._seq = 0
        self._lock = threading.Lock()

    def masks_digest(self, round_id: str) -> str | None:
        """The digest announced for ``round_id`` (reading new journal entries if needed), or None."""
        with self._lock:
            if round_id not in self._rounds:
                self._follow()
            return self._rounds.get(round_id)

    def _follow(self) -> None:
        while True:
            try:
                response = self._http.get("/audit/journal", params={"after": self._seq, "limit": PAGE})
            except httpx.HTTPError as error:
                raise ServiceUnavailable(f"the operator's journal cannot be read: {error}") from error
            if response.status_code != 200:
                raise ServiceUnavailable(f"the operator's journal answered {response.status_code}")
            try:
                page = [JournalEntry.from_json_dict(raw) for raw in response.json()]
                head = verify_chain(page, self._head, self._seq)
            except (DarkPoolError, KeyError, TypeError, ValueError) as error:
                raise UnannouncedRound(f"the operator's journal does not verify: {error}") from error
            for entry in page:
                if entry.kind == "round_open" and not entry.is_redacted:
                    payload = json.loads(entry.payload)
                    if payload.get("mode") == "fhe" and isinstance(payload.get("fhe"), dict):
                        self._rounds.setdefault(str(payload["round_id"]), str(payload["fhe"]["masks_digest"]))
            if not page:
                return
            self._head, self._seq = head, page[-1].seq
            if len(page) < PAGE:
                return
