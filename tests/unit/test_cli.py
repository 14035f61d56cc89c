"""``darkpool clear``: result JSON on stdout, status 2 and a named problem on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkpool.cli import app

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rounds.json").read_text())
runner = CliRunner()


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_clear_when_vector_file_prints_expected_json(case: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    path = tmp_path / "round.json"
    path.write_text(json.dumps(case["input"]))
    result = runner.invoke(app, ["clear", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == case["expected"]


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        ("{oops", "not valid JSON"),
        ('{"round": {"instrument": "X", "reference_ticks": 1, "band_low_ticks": 1, "levels": 0}, "orders": []}',
         "levels"),
        ('{"round": {"instrument": "X", "reference_ticks": 1, "band_low_ticks": 1, "levels": 2}}', "orders"),
    ],
)
def test_clear_when_malformed_exits_2_naming_problem(stdin: str, fragment: str) -> None:
    result = runner.invoke(app, ["clear", "-"], input=stdin)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.stdout == ""


def test_clear_when_file_missing_exits_2() -> None:
    result = runner.invoke(app, ["clear", "/nonexistent/round.json"])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_clear_when_run_as_process_reads_stdin_and_prints_one_object() -> None:
    case = VECTORS[5]
    proc = subprocess.run(
        [sys.executable, "-m", "darkpool.cli", "clear", "-"],
        input=json.dumps(case["input"]), capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and json.loads(proc.stdout) == case["expected"]


def test_cli_when_clearing_with_reference_engine_does_not_import_heavy_packages() -> None:
    code = (
        "import sys; from darkpool.cli import app; from typer.testing import CliRunner; "
        "CliRunner().invoke(app, ['clear', '-'], input='{\"round\": {\"instrument\": \"X\", \"reference_ticks\": 1, "
        "\"band_low_ticks\": 1, \"levels\": 2}, \"orders\": []}'); "
        "print(sorted(m for m in ('concrete', 'torch', 'web3', 'fastapi') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
