from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from darkpool.demo.flow import run_full_flow


@pytest.mark.chain
@pytest.mark.fhe
@pytest.mark.slow
def test_run_full_flow_when_embedded_chain_verifies_every_step_and_audit_passes(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=120)
    statements = run_full_flow(console, chain="embedded", out_dir=tmp_path)
    text = "\n".join(statements)
    for needle in ("deposited on chain", "FHE round", "appears nowhere", "margin cap applied", "settled on chain",
                   "withdrew", "inclusion", "audit passed"):
        assert needle in text
    assert json.loads((tmp_path / "audit.json").read_text())["ok"] is True
