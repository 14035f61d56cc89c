"""The FHE clearing engine: encrypted batch auctions under split key custody.

The only package that imports concrete-python. Parties:

- :class:`Custodian` holds the secret key, issues per-round masks, decrypts round outputs once;
- :class:`Operator` holds evaluation keys and the server artifact, runs the circuit;
- clients encode orders with :func:`encode_order` (masked digits, uniform to the operator).

:func:`clear_fhe` runs all three in process and returns the same result as the reference engine.
Names load lazily, so a client that only encodes orders (``fhe.encoding``, ``fhe.shape``,
``fhe.transcript``) never imports concrete.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhe.artifacts import CompiledCircuit, cache_root, circuit_id, compile_circuit
    from fhe.custodian import Custodian
    from fhe.encoding import MaskedOrder, SlotMask, encode_order, order_class, order_digits
    from fhe.engine import clear_fhe, priority_slots
    from fhe.log import DecryptionLog, LogEntry
    from fhe.operator import Operator, rank_order
    from fhe.shape import MAX_LEVELS, MAX_QUANTITY_DIGITS, MAX_SLOTS, CircuitId, Shape, choose_shape
    from fhe.transcript import DecryptionRequest, RoundMasks, RoundOutputs, transcript_hash

_HOMES = {
    "MAX_LEVELS": "fhe.shape",
    "MAX_QUANTITY_DIGITS": "fhe.shape",
    "MAX_SLOTS": "fhe.shape",
    "CircuitId": "fhe.shape",
    "CompiledCircuit": "fhe.artifacts",
    "Custodian": "fhe.custodian",
    "DecryptionLog": "fhe.log",
    "DecryptionRequest": "fhe.transcript",
    "LogEntry": "fhe.log",
    "MaskedOrder": "fhe.encoding",
    "Operator": "fhe.operator",
    "RoundMasks": "fhe.transcript",
    "RoundOutputs": "fhe.transcript",
    "Shape": "fhe.shape",
    "SlotMask": "fhe.encoding",
    "cache_root": "fhe.artifacts",
    "choose_shape": "fhe.shape",
    "circuit_id": "fhe.artifacts",
    "clear_fhe": "fhe.engine",
    "compile_circuit": "fhe.artifacts",
    "encode_order": "fhe.encoding",
    "order_class": "fhe.encoding",
    "order_digits": "fhe.encoding",
    "priority_slots": "fhe.engine",
    "rank_order": "fhe.operator",
    "transcript_hash": "fhe.transcript",
}

__all__ = [
    "MAX_LEVELS",
    "MAX_QUANTITY_DIGITS",
    "MAX_SLOTS",
    "CircuitId",
    "CompiledCircuit",
    "Custodian",
    "DecryptionLog",
    "DecryptionRequest",
    "LogEntry",
    "MaskedOrder",
    "Operator",
    "RoundMasks",
    "RoundOutputs",
    "Shape",
    "SlotMask",
    "cache_root",
    "choose_shape",
    "circuit_id",
    "clear_fhe",
    "compile_circuit",
    "encode_order",
    "order_class",
    "order_digits",
    "priority_slots",
    "rank_order",
    "transcript_hash",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fhe' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
