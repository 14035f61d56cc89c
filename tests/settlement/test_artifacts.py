"""The committed contract artifacts are what the pinned solc-js builds from the sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from darkpool.settlement.contracts import load_artifact

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_build_when_rerun_then_committed_artifacts_do_not_drift() -> None:
    node = shutil.which("node")
    if node is None or not (CONTRACTS / "node_modules" / "solc").is_dir():
        pytest.fail("cannot rebuild the contracts: run `cd contracts && npm ci` (needs node)")
    result = subprocess.run([node, "build.js", "--check"], cwd=CONTRACTS, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout


def test_load_artifact_when_packaged_then_equals_contracts_artifacts() -> None:
    package = json.loads((CONTRACTS / "artifacts" / "DarkPoolVault.json").read_text())
    assert load_artifact("DarkPoolVault").bytecode == package["bytecode"]
    assert package["compiler"]["version"].startswith(
        json.loads((CONTRACTS / "package.json").read_text())["dependencies"]["solc"]
    )
