"""One large round split into slot groups: a concrete module of a group function and a combine.

The clearing rule is :mod:`fhe.circuit`'s, cut after the curves:

- ``group`` (one evaluation per slot group of ``N / G`` slots, on any worker): unmask, cap,
  eligibility and the group's partial demand and supply curves, carried into digits; it returns
  one packed tensor: the partial curves, then each slot's allocation threshold, side and capped
  quantity digits.
- ``combine`` (one evaluation): the ``G`` partial curves summed into ``D`` and ``S``, then volume,
  auction, allocation and outputs, exactly the unsplit circuit's outputs.

Both functions are one module: one key set and the composition rule that ``group``'s output feeds
``combine``'s inputs (``fhe.Wired``), so a group's ciphertext goes to the combine as it is. The
custodian encrypts ``Enc(R)`` as one ciphertext per group.

Costs against the unsplit circuit: concrete refuses composition under the ``MONO`` strategy, so
the module compiles under ``MULTI`` with every lookup traced at the full 4-bit width
(:func:`fhe.radix.uniform_lookups`): one partition, keys the size of the unsplit circuit's (with
mixed widths ``MULTI`` makes one partition per width and its keys are 8 times larger). concrete sizes
the parameters for the noise a group's outputs carry into the combine (a few percent larger keys);
refreshing them with a bootstrap each instead costs more than it saves. The combine carries the
``G`` partial curves once more.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from concrete import fhe

import fhe.circuit as circuit_module
import fhe.radix as radix_module
from darkpool.domain import Round
from darkpool.errors import ShapeError
from fhe.arrays import IntArray
from fhe.artifacts import GLOBAL_P_ERROR, cache_root, configuration, inputset
from fhe.circuit import allocation_threshold, curve_entries, curve_totals, folds_threshold, settle, slot_stages
from fhe.custodian import decode_digits
from fhe.encoding import MaskedOrder
from fhe.operator import prepare_clear, rank_order
from fhe.radix import Tensor, add_digits, concat, digits_of, uniform_lookups
from fhe.shape import CircuitId, Shape
from fhe.transcript import RoundOutputs

__all__ = [
    "COMBINE",
    "GROUP",
    "SplitCircuit",
    "SplitEvaluator",
    "SplitKeyHolder",
    "SplitLayout",
    "bootstrap_counts",
    "clear_arguments",
    "combine_function",
    "compile_split",
    "group_function",
    "group_inputs",
    "load_split",
    "split_configuration",
    "split_module",
]

GROUP, COMBINE = "group", "combine"


@dataclass(frozen=True, slots=True)
class SplitLayout:
    """How a shape's slots split into ``groups`` equal slot groups, and how a group's output packs."""

    shape: Shape
    groups: int

    def __post_init__(self) -> None:
        if self.groups < 1 or self.shape.slots % self.groups:
            raise ShapeError(f"groups must divide the {self.shape.slots} slots, got {self.groups}")

    @property
    def id(self) -> str:
        return f"{self.shape.id}-g{self.groups}"

    @property
    def group_shape(self) -> Shape:
        return Shape(self.shape.slots // self.groups, self.shape.levels, self.shape.quantity_digits)

    @property
    def curve_digits(self) -> int:
        """Digits of a group's partial curve values."""
        group = self.group_shape
        return radix_module.width_for(group.slots * group.max_quantity)

    @property
    def threshold_columns(self) -> int:
        """Columns of a slot's allocation threshold: one folded value up to 8 levels, else its digits."""
        return 1 if folds_threshold(self.shape) else self.shape.threshold_digits

    def sections(self) -> dict[str, tuple[int, int]]:
        """Return the packed output's sections: name → (start, stop)."""
        slots, levels = self.group_shape.slots, self.shape.levels
        sizes = {
            "curves": 2 * levels * self.curve_digits,
            "threshold": slots * self.threshold_columns,
            "side": slots,
            "capped": slots * self.shape.quantity_digits,
        }
        out, start = {}, 0
        for name, size in sizes.items():
            out[name] = (start, start + size)
            start += size
        return out

    def slot_range(self, group: int) -> slice:
        size = self.group_shape.slots
        return slice(group * size, (group + 1) * size)


def group_function(layout: SplitLayout) -> Any:
    """Build the per-group function (traceable by concrete, or runnable on arrays)."""
    shape = layout.group_shape

    def group(masks: Tensor, masked: Tensor, caps: Tensor) -> Tensor:
        threshold, side, capped, indicators = slot_stages(shape, masks, masked, caps)
        with fhe.tag("curves"):
            entries = curve_entries(shape, indicators, side, capped)
            partial = add_digits(entries, shape.slots * shape.max_quantity, noise=3)
        threshold = allocation_threshold(shape, threshold, side, indicators)
        parts = [partial, threshold, side, capped]
        return concat([p.reshape((int(np.prod(p.shape)),)) for p in parts], axis=0)

    return group


def combine_function(layout: SplitLayout) -> Any:
    """Build the combine function of ``G`` packed group outputs and the rank order."""
    shape, groups, slots = layout.shape, layout.groups, layout.group_shape.slots
    sections = layout.sections()
    levels, width = shape.levels, layout.curve_digits

    def section(part: Tensor, name: str, tail: tuple[int, ...]) -> Tensor:
        start, stop = sections[name]
        return part[start:stop].reshape(tail)

    def combine(**arguments: Tensor) -> tuple[Any, Any, Any, Any, Any]:
        parts = [arguments[f"part{g}"] for g in range(groups)]
        with fhe.tag("curves"):
            partials = concat([section(p, "curves", (1, 2 * levels, width)) for p in parts], axis=0)
            # A partial's digits carry up to DIGIT_NOISE, but concrete sizes the parameters for the
            # noise wired into the combine anyway: counted as fresh, they need no refresh lookups
            # (n16-l8-q4: 96 fewer, same keys).
            demand, supply = curve_totals(shape, partials, noise=1)
        columns = layout.threshold_columns
        threshold = concat([section(p, "threshold", (slots, columns)) for p in parts], axis=0)
        if columns == 1:
            threshold = threshold.reshape((shape.slots,))
        side = concat([section(p, "side", (slots,)) for p in parts], axis=0)
        capped = concat([section(p, "capped", (slots, shape.quantity_digits)) for p in parts], axis=0)
        anchor = parts[0][0:1].reshape((1, 1))
        return settle(shape, demand, supply, (threshold, side, capped), arguments["order"], anchor)

    params = [inspect.Parameter(f"part{g}", inspect.Parameter.KEYWORD_ONLY) for g in range(groups)]
    params.append(inspect.Parameter("order", inspect.Parameter.KEYWORD_ONLY))
    combine.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return combine


def group_inputs(layout: SplitLayout, masks: IntArray, masked: IntArray, caps: IntArray) -> list[tuple[IntArray, ...]]:
    """Cut the unsplit circuit's slot arguments into each group's ``(masks, masked, caps)``."""
    return [(masks[r], masked[r], caps[r]) for r in (layout.slot_range(g) for g in range(layout.groups))]


def split_inputsets(layout: SplitLayout) -> dict[str, list[tuple[IntArray, ...]]]:
    """Return both functions' inputsets: the unsplit samples cut into groups, and their packed outputs."""
    group = group_function(layout)
    groups, combines = [], []
    for masks, masked, caps, order in inputset(layout.shape):
        cut = group_inputs(layout, masks, masked, caps)
        groups.extend(cut)
        combines.append((*(np.asarray(group(*args)) for args in cut), order))
    return {GROUP: groups, COMBINE: combines}


def split_module(layout: SplitLayout) -> Any:
    """Return the concrete module (not compiled yet): ``group`` wired into ``combine``."""
    group = fhe.function({"masks": "encrypted", "masked": "clear", "caps": "clear"})(group_function(layout))
    statuses = {f"part{g}": "encrypted" for g in range(layout.groups)} | {"order": "clear"}
    combine = fhe.function(statuses)(combine_function(layout))
    group.function.__name__, combine.function.__name__ = GROUP, COMBINE
    wiring = fhe.Wired({fhe.Wire(fhe.AllOutputs(group), fhe.AllInputs(combine))})
    members = {GROUP: group, COMBINE: combine, "composition": wiring}
    return fhe.module()(type("ClearingModule", (), members))


def split_configuration(*, simulate: bool) -> fhe.Configuration:
    """Return the module's compile configuration: the circuit's, with the ``MULTI`` strategy.

    concrete refuses composition under ``MONO`` ("Composition can not be used with MONO parameter
    selection strategy"; a wired module under ``MONO`` fails with ``NoParametersFound``).
    """
    return configuration(simulate=simulate).fork(parameter_selection_strategy=fhe.ParameterSelectionStrategy.MULTI)


def split_id(layout: SplitLayout) -> str:
    """Name the module of ``layout``: layout, concrete version, digest of the circuit and split source."""
    source = "".join(inspect.getsource(m) for m in (circuit_module, radix_module, sys.modules[__name__]))
    source += inspect.getsource(inputset)  # the samples that size every value
    digest = hashlib.sha256((source + repr(GLOBAL_P_ERROR)).encode()).hexdigest()[:12]
    return f"{layout.id}-concrete{fhe.__version__}-{digest}"


@dataclass(frozen=True, slots=True)
class SplitCircuit:
    """A compiled split module of one layout: its server artifact, never any key."""

    layout: SplitLayout
    id: CircuitId
    server: Any
    directory: Path
    simulate: bool

    @property
    def client_specs(self) -> Any:
        return self.server.client_specs

    @property
    def shape(self) -> Shape:
        return self.layout.shape

    @property
    def function_name(self) -> str:
        """The function whose outputs are the round's (what the custodian decrypts)."""
        return COMBINE


def compile_split(layout: SplitLayout, *, simulate: bool, cache_dir: Path | None = None) -> SplitCircuit:
    """Return the split module of ``layout``, compiled once and then loaded from the on-disk cache."""
    ident = split_id(layout)
    directory = cache_root(cache_dir) / "split" / ident / ("simulation" if simulate else "execution")
    if not (directory / "server.zip").exists():
        from fhe.artifacts import _ensure_tag_stack

        _ensure_tag_stack()
        with uniform_lookups():
            module = split_module(layout).compile(split_inputsets(layout), split_configuration(simulate=simulate))
        server = module.simulation_runtime.val.server if simulate else module.execution_runtime.val.server
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".server.{os.getpid()}.{random.getrandbits(32)}.zip"
        server.save(tmp)
        tmp.replace(directory / "server.zip")
    return load_split(layout, directory, simulate=simulate)


def load_split(layout: SplitLayout, directory: Path, *, simulate: bool = False) -> SplitCircuit:
    """Load a saved split server artifact (no key material)."""
    server = fhe.Server.load(directory / "server.zip", is_simulated=simulate)
    return SplitCircuit(layout, CircuitId(directory.parent.name), server, directory, simulate)


def bootstrap_counts(server: Any, functions: Sequence[str] = (GROUP, COMBINE)) -> dict[str, dict[str, int]]:
    """Return per function of a server its bootstraps in total and per ``fhe.tag`` stage."""
    counts = {}
    for name in functions:
        counts[name] = {"total": int(server.programmable_bootstrap_count(name))}
        counts[name] |= {str(t): int(c) for t, c in server.programmable_bootstrap_count_per_tag(name).items() if c}
    return counts


class SplitEvaluator:
    """The operator's side of a split round: the server artifact and the evaluation keys only.

    Every value crosses as bytes (``fhe.Value.serialize``), so the groups and the combine can run
    in this process or on any workers holding the same artifact and keys.
    """

    def __init__(self, circuit: SplitCircuit, evaluation_keys: bytes) -> None:
        self.circuit = circuit
        self._keys = None if circuit.simulate else fhe.EvaluationKeys.deserialize(evaluation_keys)

    def group(self, masks: bytes, masked: IntArray, caps: IntArray) -> bytes:
        """Evaluate one slot group: its ``Enc(R)`` ciphertext and clear digits and caps."""
        clear = prepare_clear(self.circuit.client_specs, GROUP, (masked, caps), start=1)
        return bytes(self._run(GROUP, [fhe.Value.deserialize(masks), *clear])[0].serialize())

    def combine(self, parts: Sequence[bytes], order: IntArray) -> tuple[bytes, ...]:
        """Evaluate the combine on the groups' outputs (in group order) and the rank order."""
        groups = self.circuit.layout.groups
        if len(parts) != groups:
            raise ShapeError(f"expected {groups} group outputs, got {len(parts)}")
        clear = prepare_clear(self.circuit.client_specs, COMBINE, (order,), start=groups)
        values = self._run(COMBINE, [*(fhe.Value.deserialize(p) for p in parts), *clear])
        return tuple(bytes(v.serialize()) for v in values)

    def evaluate(self, masks: Sequence[bytes], masked: IntArray, caps: IntArray, order: IntArray) -> tuple[bytes, ...]:
        """Evaluate a whole round in this process: every group, then the combine."""
        layout = self.circuit.layout
        parts = [self.group(m, masked[layout.slot_range(g)], caps[layout.slot_range(g)]) for g, m in enumerate(masks)]
        return self.combine(parts, order)

    def _run(self, function: str, args: list[Any]) -> tuple[Any, ...]:
        if self.circuit.simulate:
            results = self.circuit.server.run(*args, function_name=function)
        else:
            results = self.circuit.server.run(*args, evaluation_keys=self._keys, function_name=function)
        return results if isinstance(results, tuple) else (results,)


class SplitKeyHolder:
    """The custodian's side for a split module: the secret keys, ``Enc(R)`` per group, decryption."""

    def __init__(self, circuit: SplitCircuit, client: Any = None) -> None:
        """``client``: a ``fhe.Client`` holding the module's keys; by default fresh keys are generated."""
        self.circuit = circuit
        if client is None:
            client = fhe.Client(circuit.client_specs, is_simulated=circuit.simulate)
            if not circuit.simulate:
                client.keygen()
        self._client = client

    @property
    def evaluation_keys(self) -> bytes:
        return b"" if self.circuit.simulate else bytes(self._client.evaluation_keys.serialize())

    def draw_masks(self, rng: random.Random) -> IntArray:
        """Draw a round's digit masks ``R`` (``N x K``); slot ``s``'s client gets row ``s`` only."""
        shape = self.circuit.layout.shape
        return np.array([[rng.randrange(4) for _ in range(shape.digits_per_slot)] for _ in range(shape.slots)])

    def encrypt_masks(self, masks: IntArray) -> list[bytes]:
        """Return ``Enc(R)`` of every slot group, in group order."""
        layout = self.circuit.layout
        out = []
        for g in range(layout.groups):
            chunk = np.asarray(masks[layout.slot_range(g)], dtype=np.int64)
            if self.circuit.simulate:
                value = self._client.simulate_encrypt(chunk, None, None, function_name=GROUP)[0]
            else:
                value = self._client.encrypt(chunk, None, None, function_name=GROUP)[0]
            out.append(bytes(value.serialize()))
        return out

    def decrypt(self, round_id: str, outputs: Sequence[bytes]) -> RoundOutputs:
        """Decrypt and decode the combine's outputs (traded, rank, volume, fills, sides)."""
        return decode_digits(self.circuit.layout.shape, round_id, self.decrypt_digits(outputs))

    def decrypt_digits(self, outputs: Sequence[bytes]) -> list[IntArray]:
        """Decrypt the combine's outputs into their digits."""
        values = [fhe.Value.deserialize(data) for data in outputs]
        if self.circuit.simulate:
            plain = self._client.simulate_decrypt(*values, function_name=COMBINE)
        else:
            plain = self._client.decrypt(*values, function_name=COMBINE)
        return [np.asarray(v, dtype=np.int64) for v in (plain if isinstance(plain, tuple) else (plain,))]


def clear_arguments(shape: Shape, round_: Round, submitted: Sequence[MaskedOrder]) -> tuple[IntArray, ...]:
    """Return the clear arguments (masked digits, caps, rank order) of orders submitted by slot.

    Submitted slots take the largest cap; the other slots stay off (cap 0).
    """
    masked = np.zeros((shape.slots, shape.digits_per_slot), dtype=np.int64)
    caps = np.zeros((shape.slots, shape.quantity_digits), dtype=np.int64)
    for order in submitted:
        masked[order.slot] = order.digits
        caps[order.slot] = digits_of(shape.max_quantity, shape.quantity_digits)
    ranks = np.zeros((shape.levels, shape.levels), dtype=np.int64)
    for rank, level in enumerate(rank_order(round_, shape.levels)):
        ranks[level, rank] = 1
    return masked, caps, ranks
