"""The FHE clearing engine: encrypted batch auctions under split key custody.

The only package that imports concrete-python. Parties:

- :class:`Custodian` holds the secret key, issues per-round masks, decrypts round outputs once;
- :class:`Operator` holds evaluation keys and the server artifact, runs the circuit;
- clients encode orders with :func:`encode_order` (masked digits, uniform to the operator).

:func:`clear_fhe` runs all three in process and returns the same result as the reference engine.
"""

from fhe.artifacts import CircuitId, CompiledCircuit, cache_root, circuit_id, compile_circuit
from fhe.custodian import Custodian
from fhe.encoding import MaskedOrder, SlotMask, encode_order, order_class, order_digits
from fhe.engine import clear_fhe, priority_slots
from fhe.log import DecryptionLog, LogEntry
from fhe.operator import Operator, rank_order
from fhe.shape import MAX_LEVELS, MAX_QUANTITY_DIGITS, MAX_SLOTS, Shape, choose_shape
from fhe.transcript import DecryptionRequest, RoundMasks, RoundOutputs, transcript_hash

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
