"""The custodian compiles and keys a new shape or epoch without its lock: open rounds are served meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from darkpool.custodian import create_custodian_app
from darkpool.web.settings import CustodianSettings
from tests.operator.fhe_helpers import CUSTODIAN_TOKEN
from tests.operator.helpers import VAULT

pytestmark = [pytest.mark.fhe]
OPERATOR = "0x" + "11" * 20


def _custodian(tmp_path: Path, **overrides: Any) -> Any:
    settings = CustodianSettings(vault=VAULT, operator_token=CUSTODIAN_TOKEN, log=str(tmp_path / "log.jsonl"),
                                 key_dir=str(tmp_path / "keys"), cache_dir=str(tmp_path.parent / "fhe-cache"),
                                 simulate=True, shapes="4x4x255", verifiers="0x" + "22" * 20,
                                 **overrides)
    return create_custodian_app(settings).state.core


def _hold_builds(monkeypatch: pytest.MonkeyPatch, slots: int) -> tuple[threading.Event, threading.Event, list[bool]]:
    """Hold the compilation of every ``slots``-slot circuit until released; returns (building, release,
    whether each held build was released rather than given up on)."""
    from fhe import split_roles

    compile_program = split_roles.compile_program
    building, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def held(key: Any, **options: Any) -> Any:
        if key[0] == slots:
            building.set()
            released.append(release.wait(60))
        return compile_program(key, **options)

    monkeypatch.setattr(split_roles, "compile_program", held)
    return building, release, released


def test_custodian_when_keying_a_new_shape_then_keyed_shapes_open_and_abort_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    core = _custodian(tmp_path)
    first = core.open_round("1", 4, 4, 255, OPERATOR)
    building, release, released = _hold_builds(monkeypatch, 8)
    opened: dict[str, Any] = {}
    opener = threading.Thread(target=lambda: opened.update(new=core.open_round("2", 8, 4, 255, OPERATOR)))
    opener.start()
    assert building.wait(60)
    # While the 8-slot circuit compiles and keys, the keyed 4-slot shape opens a round and one aborts.
    third = core.open_round("3", 4, 4, 255, OPERATOR)
    assert core.abort("1", "operator gave up") == "operator gave up"
    assert core.evaluation_keys(first.circuit_id) == b""  # simulation: no keys, but the call is served
    release.set()
    opener.join(120)
    assert not opener.is_alive() and released == [True], "the custodian's lock was held through the build"
    assert opened["new"].slots == 8 and third.circuit_id == first.circuit_id
    assert core.open_round("2", 8, 4, 255, OPERATOR) == opened["new"]  # built once, opened once


def test_custodian_when_two_requests_open_one_new_round_then_it_is_keyed_and_opened_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    core = _custodian(tmp_path)
    building, release, released = _hold_builds(monkeypatch, 8)
    opened: list[Any] = []
    openers = [threading.Thread(target=lambda: opened.append(core.open_round("1", 8, 4, 255, OPERATOR)))
               for _ in range(2)]
    for opener in openers:
        opener.start()
    assert building.wait(60)
    release.set()
    for opener in openers:
        opener.join(120)
    assert not any(opener.is_alive() for opener in openers)
    assert len(released) == 1 and len(opened) == 2 and opened[0] == opened[1]
