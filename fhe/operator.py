"""The operator's side of an FHE round: evaluation keys, server artifact, clear inputs only.

The operator never holds a secret key. It receives ``Enc(R)`` from the custodian, each client's
masked digits in the clear, builds the clear arguments (masked digits, caps, rank order) from the
circuit's client specs alone, runs the server with the evaluation keys and asks the custodian to
decrypt the outputs. Slots are filled in time priority; empty slots stay off (cap 0).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from concrete import fhe

from darkpool.domain import Round
from darkpool.errors import CiphertextShapeError, ForeignKey, PolicyViolation, ShapeError, WrongRound
from fhe.arrays import IntArray
from fhe.artifacts import Program
from fhe.custodian import load_array, save_array
from fhe.encoding import MaskedOrder
from fhe.radix import digits_of
from fhe.shape import Shape
from fhe.transcript import DecryptionRequest, RoundMasks, inputs_commitment, transcript_hash

__all__ = ["Operator", "Runner", "prepare_clear", "rank_order"]

Runner = Callable[[bytes, Sequence[IntArray]], tuple[bytes, ...]]
"""Evaluate a round: ``Enc(R)`` and the clear arguments (masked digits, caps, rank order) → the outputs."""


def rank_order(round_: Round, levels: int) -> list[int]:
    """Return band levels best first: closest to the reference, then lower price.

    ``levels`` may exceed the round's band (a padded shape); padding levels rank last.
    """
    band = sorted(
        range(round_.levels),
        key=lambda k: (abs(round_.price_at(k) - round_.reference_ticks), round_.price_at(k)),
    )
    return band + list(range(round_.levels, levels))


@dataclass
class _OpenRound:
    round_: Round
    masks: RoundMasks
    masked: IntArray
    caps: IntArray
    filled: set[int] = field(default_factory=set)


class Operator:
    """Evaluate rounds with the evaluation keys of one circuit."""

    def __init__(self, circuit: Program, evaluation_keys: bytes, key_id: str, *,
                 run: Runner | None = None) -> None:
        """``run`` evaluates elsewhere (a split module's groups and combine); by default the circuit runs here."""
        self._circuit = circuit
        self._key_id = key_id
        self._evaluation_keys: Any = None
        if run is None and not circuit.simulate:
            self._evaluation_keys = fhe.EvaluationKeys.deserialize(evaluation_keys)
        self._runner: Runner = run or self._run
        self._rounds: dict[str, _OpenRound] = {}

    @property
    def shape(self) -> Shape:
        return self._circuit.shape

    def begin(self, round_id: str, round_: Round, masks: RoundMasks) -> None:
        """Start a round with the custodian's ``Enc(R)``; refuse masks of another round or key."""
        shape = self._circuit.shape
        if masks.round_id != round_id:
            raise WrongRound(f"masks are for round {masks.round_id!r}, not {round_id!r}")
        if round_id in self._rounds:
            raise PolicyViolation(f"round {round_id!r} has already begun")
        if masks.circuit_id != self._circuit.id or masks.key_id != self._key_id:
            raise ForeignKey("the masks were encrypted for another circuit or key set")
        if (masks.slots, masks.digits_per_slot) != (shape.slots, shape.digits_per_slot):
            raise CiphertextShapeError(
                f"masks of shape {masks.slots}x{masks.digits_per_slot}, circuit takes "
                f"{shape.slots}x{shape.digits_per_slot}"
            )
        if round_.levels > shape.levels:
            raise ShapeError(f"round of {round_.levels} levels, circuit of {shape.levels}")
        masked = np.zeros((shape.slots, shape.digits_per_slot), dtype=np.int64)
        caps = np.zeros((shape.slots, shape.quantity_digits), dtype=np.int64)
        self._rounds[round_id] = _OpenRound(round_, masks, masked, caps)

    def submit(self, order: MaskedOrder, *, cap: int | None = None) -> None:
        """Accept a client's masked digits for its slot and switch the slot on with its cap."""
        state = self._round(order.round_id)
        shape = self._circuit.shape
        if not 0 <= order.slot < shape.slots:
            raise ShapeError(f"slot must be in 0..{shape.slots - 1}, got {order.slot}")
        if order.slot in state.filled:
            raise PolicyViolation(f"slot {order.slot} of round {order.round_id!r} is already filled")
        digits = order.digits
        if len(digits) != shape.digits_per_slot or any(
            isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 3 for d in digits
        ):
            raise ShapeError(f"slot {order.slot}: expected {shape.digits_per_slot} digits in 0..3, got {digits!r}")
        limit = shape.max_quantity if cap is None else max(0, min(int(cap), shape.max_quantity))
        state.masked[order.slot] = digits
        state.caps[order.slot] = digits_of(limit, shape.quantity_digits)
        state.filled.add(order.slot)

    def evaluate(self, round_id: str, *, salt: bytes | None = None) -> DecryptionRequest:
        """Run the circuit on the round's inputs; return the request for the custodian."""
        state = self._round(round_id)
        del self._rounds[round_id]  # evaluated or failed, the round's inputs are gone: a retry begins again
        shape = self._circuit.shape
        order = np.zeros((shape.levels, shape.levels), dtype=np.int64)
        for rank, level in enumerate(rank_order(state.round_, shape.levels)):
            order[level, rank] = 1
        clear_args = (state.masked, state.caps, order)
        outputs = self._runner(state.masks.ciphertext, clear_args)
        commitment = inputs_commitment(salt if salt is not None else secrets.token_bytes(32), *clear_args)
        return DecryptionRequest(
            round_id,
            self._circuit.id,
            state.masks.digest,
            commitment,
            transcript_hash(self._circuit.id, state.masks.digest, commitment),
            outputs,
        )

    def _round(self, round_id: str) -> _OpenRound:
        state = self._rounds.get(round_id)
        if state is None:
            raise WrongRound(f"round {round_id!r} is not open at this operator")
        return state

    def _run(self, masks: bytes, clear_args: Sequence[IntArray]) -> tuple[bytes, ...]:
        server = self._circuit.server
        name = self._circuit.function_name
        if self._circuit.simulate:
            values = server.run(*self._simulated_args(load_array(masks), clear_args), function_name=name)
            client = fhe.Client(self._circuit.client_specs, is_simulated=True)
            plain = client.simulate_decrypt(*values, function_name=name)
            return tuple(save_array(np.asarray(v)) for v in plain)
        if masks.startswith(b"darkpool-simulated"):
            raise ForeignKey("expected a ciphertext of Enc(R), got a simulated value")
        try:
            encrypted = fhe.Value.deserialize(masks)
            prepared = self._prepare_clear(clear_args)
            results = server.run(encrypted, *prepared, evaluation_keys=self._evaluation_keys, function_name=name)
        except RuntimeError as error:
            raise CiphertextShapeError(f"Enc(R) does not fit circuit {self._circuit.id}: {error}") from error
        if not isinstance(results, tuple):
            results = (results,)
        return tuple(r.serialize() for r in results)

    def _simulated_args(self, masks: IntArray, clear_args: Sequence[IntArray]) -> tuple[Any, ...]:
        shape = self._circuit.shape
        if masks.shape != (shape.slots, shape.digits_per_slot):
            raise CiphertextShapeError(f"masks of shape {masks.shape} do not fit circuit {self._circuit.id}")
        client = fhe.Client(self._circuit.client_specs, is_simulated=True)
        args = client.simulate_encrypt(masks, *clear_args, function_name=self._circuit.function_name)
        return tuple(args)

    def _prepare_clear(self, clear_args: Sequence[IntArray]) -> list[Any]:
        return prepare_clear(self._circuit.client_specs, self._circuit.function_name, clear_args, start=1)


def prepare_clear(client_specs: Any, function_name: str, clear_args: Sequence[IntArray], *, start: int) -> list[Any]:
    """Prepare clear arguments (positions ``start``, ...) for a server: no key is needed."""
    # concrete's simulated client program prepares clear values without any key material.
    from concrete.fhe.compilation.client import ClientProgram, Value_

    program = ClientProgram.create_simulated(client_specs.program_info)
    circuit = program.get_client_circuit(function_name)
    return [
        fhe.Value(circuit.simulate_prepare_input(Value_(np.asarray(arg, dtype=np.int64)), position))
        for position, arg in enumerate(clear_args, start=start)
    ]
