"""``darkpool clear --engine commit-reveal`` prints the reference result; the public API is honest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import commit_reveal
from darkpool.cli import app

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rounds.json").read_text())
runner = CliRunner()


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_clear_when_engine_is_commit_reveal_prints_expected_json(case: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    path = tmp_path / "round.json"
    path.write_text(json.dumps(case["input"]))
    result = runner.invoke(app, ["clear", str(path), "--engine", "commit-reveal"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == case["expected"]


def test_all_when_imported_names_exist_and_are_public() -> None:
    exported = commit_reveal.__all__
    assert len(exported) == len(set(exported))
    for name in exported:
        assert not name.startswith("_")
        assert hasattr(commit_reveal, name), name
    public = {n for n in vars(commit_reveal) if not n.startswith("_") and n not in ("annotations",)}
    modules = {n for n in public if type(getattr(commit_reveal, n)).__name__ == "module"}
    assert public - modules == set(exported)


def test_package_when_installed_ships_py_typed() -> None:
    assert (Path(commit_reveal.__file__).parent / "py.typed").exists()
