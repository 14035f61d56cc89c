"""The custodian's hash-chained decryption log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darkpool.errors import StorageError
from fhe.log import GENESIS, DecryptionLog
from fhe.transcript import RoundOutputs

pytestmark = pytest.mark.fhe


def test_append_when_entries_added_chain_links_each_to_previous(tmp_path: Path) -> None:
    log = DecryptionLog(tmp_path / "log.jsonl")
    assert log.head == GENESIS
    first = log.append("r1", "t1", RoundOutputs("r1", 0, 3, (3, 3)))
    second = log.append("r2", "t2", None)
    assert second.previous == first.hash and log.head == second.hash
    assert log.verify()
    assert DecryptionLog(tmp_path / "log.jsonl").head == log.head


def test_load_when_file_tampered_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = DecryptionLog(path)
    log.append("r1", "t1", RoundOutputs("r1", 0, 3, (3, 3)))
    log.append("r2", "t2", RoundOutputs("r2", None, 0, (0, 0)))
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["outputs"]["volume_lots"] = 4
    path.write_text("\n".join([json.dumps(entry), lines[1]]) + "\n")
    with pytest.raises(StorageError):
        DecryptionLog(path)
