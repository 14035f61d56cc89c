"""Shared fixtures: one cache directory per test session, so circuits and keys are built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fhe.artifacts import CompiledCircuit, compile_circuit
from fhe.custodian import Custodian
from fhe.shape import Shape

SMALL = Shape(slots=4, levels=4, quantity_digits=1)
"""The real-encryption shape of the default run: 4 orders, 4 levels, up to 3 lots."""
WIDE = Shape(slots=8, levels=8, quantity_digits=2)
"""The simulation shape of the default run: 8 orders, 8 levels, up to 15 lots."""


@pytest.fixture(scope="session")
def fhe_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fhe-cache")


@pytest.fixture(scope="session")
def simulated_circuit(fhe_cache: Path) -> CompiledCircuit:
    return compile_circuit(SMALL, simulate=True, cache_dir=fhe_cache)


@pytest.fixture(scope="session")
def real_circuit(fhe_cache: Path) -> CompiledCircuit:
    return compile_circuit(SMALL, simulate=False, cache_dir=fhe_cache)


@pytest.fixture(scope="session")
def real_custodian(real_circuit: CompiledCircuit, fhe_cache: Path) -> Custodian:
    return Custodian(real_circuit, key_dir=fhe_cache / "custodian-keys")
