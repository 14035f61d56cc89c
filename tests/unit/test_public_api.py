"""Every package's curated ``__all__`` names things that exist, and nothing private."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["darkpool", "darkpool.clearing", "darkpool.signing", "darkpool.errors", "darkpool.domain"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_when_imported_names_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for attr in exported:
        assert not attr.startswith("_")
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"
