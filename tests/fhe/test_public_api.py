"""The fhe package's curated public API."""

from __future__ import annotations

import inspect

import pytest

import fhe

pytestmark = pytest.mark.fhe


def test_all_when_listed_names_exist_and_are_sorted_by_kind() -> None:
    for name in fhe.__all__:
        assert hasattr(fhe, name), name
    assert len(set(fhe.__all__)) == len(fhe.__all__)


def test_clear_fhe_when_inspected_has_the_agreed_signature() -> None:
    parameters = inspect.signature(fhe.clear_fhe).parameters
    assert list(parameters) == ["round_", "orders", "simulate", "caps", "cache_dir", "progress"]
    for name in ("simulate", "caps", "cache_dir", "progress"):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
