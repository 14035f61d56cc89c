"""The custodian's per-round state on disk: written and fsync'd before any response that depends on it.

One file per round in a private directory, replaced atomically (write a staging file, fsync, rename,
fsync the directory). A round's mask digits are sealed (AES-256-GCM under the custodian's wrapping
key, bound to the round); ``Enc(R)`` is public and kept beside it. A restarted custodian reloads
every round: masks already issued are re-delivered to their owners, a decrypted or aborted round
stays spent, and a round in flight can still be decrypted once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkpool.crypto.sealing import Sealer
from darkpool.errors import StorageError

__all__ = ["RoundRecord", "RoundStore"]


@dataclass
class RoundRecord:
    """What the custodian must not forget about a round."""

    round_id: str
    shape_key: tuple[int, ...]
    """Slots, levels, quantity digits and slot groups (records of before split rounds have no groups)."""
    operator: str
    opened: dict[str, Any]
    """The public :class:`~darkpool.custodian.core.OpenedRound` fields but ``masks`` (Enc(R), its own file)."""
    mask_digits: list[list[int]]
    grants: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Slot → the operator's grant (wire form) first shown for it."""
    issued: list[int] = field(default_factory=list)
    decrypted: bool = False
    aborted: str = ""
    """Why the operator aborted the round (empty: not aborted)."""
    epoch: int = 0
    """The key epoch whose key set the round's masks are encrypted under."""


class RoundStore:
    """Rounds as sealed JSON files under ``directory`` (0700)."""

    def __init__(self, directory: Path, sealer: Sealer) -> None:
        self.directory = directory
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sealer = sealer

    def _path(self, round_id: str) -> Path:
        if not round_id.isdigit():
            raise StorageError(f"round id {round_id!r} is not a decimal number")
        return self.directory / f"round-{round_id}.json"

    def save(self, record: RoundRecord) -> None:
        """Write ``record`` durably (atomic replace, fsync of file and directory)."""
        body = {
            "round_id": record.round_id, "shape_key": list(record.shape_key), "operator": record.operator,
            "opened": record.opened,
            "mask_digits": self._sealer.seal(json.dumps(record.mask_digits).encode(), self._context(record.round_id)),
            "grants": {str(slot): grant for slot, grant in record.grants.items()},
            "issued": sorted(record.issued), "decrypted": record.decrypted, "aborted": record.aborted,
            "epoch": record.epoch,
        }
        self._write(self._path(record.round_id), json.dumps(body, sort_keys=True).encode())

    def save_masks(self, round_id: str, ciphertext: bytes) -> None:
        """Keep the round's ``Enc(R)`` (public; written once, before the round's record)."""
        self._write(self._path(round_id).with_suffix(".enc"), ciphertext)

    def load_masks(self, round_id: str) -> bytes:
        return self._path(round_id).with_suffix(".enc").read_bytes()

    def _write(self, path: Path, data: bytes) -> None:
        staging = path.with_name(f".{path.name}.staging")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def load_all(self) -> list[RoundRecord]:
        """Every stored round, in round-id order; refuse a file that does not open under the key."""
        records = []
        for path in sorted(self.directory.glob("round-*.json"), key=lambda p: int(p.stem.split("-")[1])):
            try:
                raw = json.loads(path.read_text())
                round_id = str(raw["round_id"])
                digits = json.loads(self._sealer.open(raw["mask_digits"], self._context(round_id)))
                records.append(RoundRecord(
                    round_id, tuple(raw["shape_key"]), raw["operator"], raw["opened"], digits,
                    {int(slot): grant for slot, grant in raw["grants"].items()}, list(raw["issued"]),
                    bool(raw["decrypted"]), str(raw["aborted"]), int(raw.get("epoch", 0))))
            except (KeyError, ValueError, TypeError) as error:
                raise StorageError(f"custodian round file {path} is unreadable: {error}") from error
        return records

    @staticmethod
    def _context(round_id: str) -> bytes:
        return b"darkpool/custodian/round-masks/" + round_id.encode()
