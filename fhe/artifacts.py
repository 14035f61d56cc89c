"""Compiled circuits and keys, cached on disk by shape and concrete version.

Layout under the cache root (``DARKPOOL_CACHE_DIR``, else ``~/.cache/darkpool/fhe``)::

    <circuit id>/execution/server.zip   the server artifact (what the operator loads)
    <circuit id>/simulation/server.zip  the same, compiled for concrete's simulation
    <circuit id>/custodian/keyset/secret.keys  the custodian's key set (secret: custodian only)
    <circuit id>/custodian/keyset/eval.keys    the evaluation keys (what the operator gets)

The circuit id names the shape, the concrete version and a digest of the circuit's source, so a
changed circuit never meets stale keys. One parameter set serves every lookup (``MONO``): with several,
concrete adds conversion keys between every pair of partitions, ten times the key size here.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from concrete import fhe

import fhe.circuit as circuit_module
import fhe.radix as radix_module
from fhe.arrays import IntArray
from fhe.circuit import clearing_function
from fhe.shape import CircuitId, Shape

__all__ = [
    "Program",
    "CircuitId",
    "CompiledCircuit",
    "cache_root",
    "circuit_id",
    "compile_circuit",
    "inputset",
    "load_circuit",
]

ENCRYPTION = {"masks": "encrypted", "masked": "clear", "caps": "clear", "order": "clear"}
CACHE_ENV = "DARKPOOL_CACHE_DIR"
GLOBAL_P_ERROR = 1e-5
"""Chance that a whole round computes a wrong value: one round in 100,000."""


def cache_root(cache_dir: Path | None = None) -> Path:
    """Return the cache root: ``cache_dir``, else ``$DARKPOOL_CACHE_DIR``, else ``~/.cache/darkpool/fhe``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "darkpool" / "fhe"


def circuit_id(shape: Shape) -> CircuitId:
    """Name the circuit of ``shape``: shape, concrete version, digest of the circuit source."""
    source = (inspect.getsource(circuit_module) + inspect.getsource(radix_module) + inspect.getsource(inputset)
              + repr(GLOBAL_P_ERROR))
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return CircuitId(f"{shape.id}-concrete{fhe.__version__}-{digest}")


def configuration(*, simulate: bool) -> fhe.Configuration:
    """Return the compile configuration (simulation only, or real execution too)."""
    return fhe.Configuration(
        fhe_simulation=simulate,
        fhe_execution=not simulate,
        global_p_error=GLOBAL_P_ERROR,
        parameter_selection_strategy=fhe.ParameterSelectionStrategy.MONO,
        show_progress=False,
    )


def inputset(shape: Shape, count: int = 12, seed: int = 0) -> list[tuple[IntArray, ...]]:
    """Return sample arguments spanning every input's range (every index is also hinted)."""
    rng = np.random.default_rng(seed)
    slots, digits, levels = shape.slots, shape.digits_per_slot, shape.levels
    samples: list[tuple[IntArray, ...]] = []
    # Every slot at the largest threshold and quantity, all buys, all sells, then alternating: the
    # curves' sums reach their bounds on both sides (random digits rarely do with many slots, and
    # a sum beyond what the inputset showed wraps under real encryption).
    top = [(shape.levels - 1 >> (2 * j)) & 3 for j in range(shape.threshold_digits)]
    for sides in ([0] * slots, [1] * slots, [i % 2 for i in range(slots)]):
        extreme = np.array([top + [side] + [3] * shape.quantity_digits for side in sides], dtype=np.int64)
        samples.append((np.zeros((slots, digits), dtype=np.int64), extreme,
                        np.full((slots, shape.quantity_digits), 3), np.eye(levels, dtype=np.int64)))
    for i in range(count):
        order = np.eye(levels, dtype=np.int64)[rng.permutation(levels)]
        if i == 0:
            masks = np.full((slots, digits), 3)
            masked = np.full((slots, digits), 3)
            caps = np.full((slots, shape.quantity_digits), 3)
        else:
            masks = rng.integers(0, 4, (slots, digits))
            masked = rng.integers(0, 4, (slots, digits))
            caps = rng.integers(0, 4, (slots, shape.quantity_digits))
        samples.append((masks, masked, caps, order))
    return samples


@dataclass(frozen=True, slots=True)
class CompiledCircuit:
    """A compiled clearing circuit of one shape: its server artifact, never any key."""

    shape: Shape
    id: CircuitId
    server: Any
    """The ``fhe.Server`` (simulated when ``simulate``)."""
    directory: Path
    simulate: bool

    @property
    def client_specs(self) -> Any:
        return self.server.client_specs

    @property
    def function_name(self) -> str:
        return str(self.server.client_specs.program_info.function_list()[0])


class Program(Protocol):
    """What the custodian and the operator use of a compiled circuit or split module (``fhe.split``)."""

    @property
    def id(self) -> CircuitId: ...
    @property
    def shape(self) -> Shape: ...
    @property
    def server(self) -> Any: ...
    @property
    def directory(self) -> Path: ...
    @property
    def simulate(self) -> bool: ...
    @property
    def client_specs(self) -> Any: ...
    @property
    def function_name(self) -> str: ...


def _quiet(_: str) -> AbstractContextManager[None]:
    return nullcontext()


def _ensure_tag_stack() -> None:
    """Give this thread concrete's tag stack: concrete creates it only on the thread that imported it,
    and a service compiles a shape it was not started with on a worker thread."""
    from concrete.fhe.extensions.tag import tag_context

    if not hasattr(tag_context, "stack"):
        tag_context.stack = []


def compile_circuit(
    shape: Shape,
    *,
    simulate: bool,
    cache_dir: Path | None = None,
    progress: Callable[[str], AbstractContextManager[None]] | None = None,
) -> CompiledCircuit:
    """Return the circuit of ``shape``, compiled once and then loaded from the on-disk cache."""
    ident = circuit_id(shape)
    directory = cache_root(cache_dir) / ident / ("simulation" if simulate else "execution")
    server_path = directory / "server.zip"
    if server_path.exists():
        return load_circuit(shape, directory, simulate=simulate)
    step = progress or _quiet
    _ensure_tag_stack()
    with step(f"compiling the {shape.id} circuit" + (" for simulation" if simulate else "")):
        compiler = fhe.Compiler(clearing_function(shape), ENCRYPTION)
        compiled = compiler.compile(inputset(shape), configuration(simulate=simulate))
    server = compiled.simulator if simulate else compiled.server
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".server.{os.getpid()}.{random.getrandbits(32)}.zip"
    server.save(tmp)
    tmp.replace(server_path)
    return load_circuit(shape, directory, simulate=simulate)


def load_circuit(shape: Shape, directory: Path, *, simulate: bool = False) -> CompiledCircuit:
    """Load a saved server artifact (what the operator holds: no key material at all)."""
    server = fhe.Server.load(directory / "server.zip", is_simulated=simulate)
    return CompiledCircuit(shape, CircuitId(directory.parent.name), server, directory, simulate)
