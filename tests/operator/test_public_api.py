"""The curated ``__all__`` of each package of the services layer is honest, and imports stay layered."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["darkpool.ledger", "darkpool.sdk", "darkpool.audit", "darkpool.operator", "darkpool.custodian",
            "darkpool.signing.wire"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_when_imported_names_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert not attr.startswith("_")
        assert getattr(module, attr) is not None


@pytest.mark.parametrize(("module", "forbidden"), [
    ("darkpool.ledger", ("fastapi", "httpx", "web3", "concrete", "fhe", "commit_reveal")),
    ("darkpool.sdk", ("fastapi", "concrete", "uvicorn")),
    ("darkpool.signing.wire", ("fastapi", "concrete", "web3")),
])
def test_import_when_module_loaded_pulls_in_no_forbidden_layer(module: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
