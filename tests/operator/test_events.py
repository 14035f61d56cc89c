"""The typed journal: every event kind encodes, decodes and applies; other formats are refused by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from darkpool.domain import Account, OrderId
from darkpool.errors import StorageError
from darkpool.ledger import Journal, SqliteStore
from darkpool.operator import apply, events
from darkpool.operator.events import (
    JOURNAL_FORMAT,
    CommitEntry,
    CommitsAccepted,
    Event,
    FheLiquidation,
    FheRoundInfo,
    LiquidationEntry,
    Mode,
    RevealEntry,
    RevealsAccepted,
    decode,
    encode,
)
from darkpool.operator.instruments import default_instruments
from darkpool.operator.state import CoreConfig
from darkpool.signing import SigningDomain

ALICE = Account("0x" + "a1" * 20)
KINDS = [getattr(events, name) for name in events.__all__
         if isinstance(getattr(events, name), type) and issubclass(getattr(events, name), Event)
         and getattr(events, name) is not Event]


def _sample(cls: type[Event]) -> Event:
    """One event of ``cls`` with a value of the right type in every field."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type)
        if f.name == "mode":
            values[f.name] = Mode.COMMIT_REVEAL
        elif f.name == "fhe":
            values[f.name] = FheRoundInfo("c1", "k1", 4, 8, 4, 12, 255, "0x" + "ab" * 32)
        elif f.name == "commits":
            values[f.name] = (CommitEntry(ALICE, 1, b"\x01" * 32, 10, 99, b"\x02" * 65, OrderId("a:1"), 0),)
        elif f.name == "reveals":
            values[f.name] = (RevealEntry(ALICE, 1, 0, -(2**63), 7, b"\x03" * 32, 5),)
        elif f.name == "liquidations":
            values[f.name] = (LiquidationEntry(OrderId("liquidation:1:1"), ALICE, 1, 299_000, 4, 9),)
        elif f.name == "placed":
            values[f.name] = (FheLiquidation(2, OrderId("liquidation:1:1"), ALICE, 1, 299_000, 4, '{"m":1}',
                                             b"\x01\x03", b"\x05" * 32, '{"key":"0x00"}'),)
        elif f.name == "balances":
            values[f.name] = ((ALICE, 10**30),)
        elif f.name == "smiles":
            values[f.name] = ((1_900_000_000, 0.6, -0.2, 0.1),)
        elif "bytes" in kind:
            values[f.name] = b"\x07" * 32
        elif "tuple" in kind:
            values[f.name] = ("ETH-3000-C",) if f.name == "symbols" else (1, 0, 3)
        elif f.name in ("account", "token"):
            values[f.name] = ALICE
        elif "float" in kind:
            values[f.name] = 3000.5
        elif "str" in kind:
            values[f.name] = "0x" + "cd" * 32
        else:
            values[f.name] = 7
    return cls(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.KIND)
def test_event_when_encoded_then_decodes_to_itself_and_has_an_applier(cls: type[Event]) -> None:
    event = _sample(cls)
    kind, payload = encode(event)
    assert kind == cls.KIND and payload["v"] == JOURNAL_FORMAT
    assert decode(kind, payload) == event
    assert cls in apply._APPLIERS


def test_event_kinds_when_listed_are_unique() -> None:
    assert len({c.KIND for c in KINDS}) == len(KINDS) == len(apply._APPLIERS)


@given(st.lists(st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**64 - 1),
                          st.binary(min_size=32, max_size=32), st.integers(0, 2**256 - 1),
                          st.integers(0, 2**64 - 1), st.binary(min_size=65, max_size=65),
                          st.integers(0, 2**40)), max_size=20))
def test_commits_when_any_batch_encoded_then_columns_decode_exactly(
    rows: list[tuple[bytes, int, bytes, int, int, bytes, int]]
) -> None:
    entries = tuple(CommitEntry(Account("0x" + a.hex()), n, c, b, e, s, OrderId(f"0x{a.hex()}:{n}"), p)
                    for a, n, c, b, e, s, p in rows)
    event = CommitsAccepted(3, entries, 1_800_000_000)
    assert decode(*encode(event)) == event


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-(2**63), 2**63 - 1), st.integers(1, 2**64 - 1),
                          st.binary(min_size=32, max_size=32)), max_size=20))
def test_reveals_when_any_batch_encoded_then_columns_decode_exactly(rows: list[tuple[int, int, int, bytes]]) -> None:
    entries = tuple(RevealEntry(ALICE, i, side, limit, q, salt, q // 2)
                    for i, (side, limit, q, salt) in enumerate(rows))
    event = RevealsAccepted(2, entries, 1_800_000_000)
    assert decode(*encode(event)) == event


def test_decode_when_journal_of_first_format_then_refused_with_both_formats_named() -> None:
    legacy = {"deposit_id": 1, "account": ALICE, "amount": 5, "at": 1}  # format 1: no "v"
    with pytest.raises(StorageError, match=f"journal format 1, expected {JOURNAL_FORMAT}"):
        decode("deposit", legacy, seq=1)
    with pytest.raises(StorageError, match=f"journal format 9, expected {JOURNAL_FORMAT}"):
        decode("deposit", {**legacy, "v": 9}, seq=1)


def test_decode_when_kind_unknown_or_payload_malformed_then_storage_error() -> None:
    with pytest.raises(StorageError, match="unknown kind"):
        decode("teleport", {"v": JOURNAL_FORMAT}, seq=4)
    with pytest.raises(StorageError, match="does not decode"):
        decode("commits", {"v": JOURNAL_FORMAT, "round_id": 1, "commits": {"account": "0x"}, "at": 1}, seq=5)


def test_operator_when_journal_written_by_first_format_then_start_fails_clearly(tmp_path: Path) -> None:
    journal = Journal(SqliteStore(str(tmp_path / "old.db")))
    journal.append("deposit", {"deposit_id": 1, "account": ALICE, "amount": 5, "at": 1}).wait()
    journal.close()
    from darkpool.operator.core import OperatorCore

    config = CoreConfig(SigningDomain(1, "0x" + "5e" * 20), "0x" + "70" * 20, default_instruments(), b"\x01" * 32)
    with pytest.raises(StorageError, match="journal format 1, expected 3"):
        OperatorCore(Journal(SqliteStore(str(tmp_path / "old.db"))), config, lambda: 1)
