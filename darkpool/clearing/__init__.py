"""Clearing engines for the sealed uniform-price batch auction of DESIGN.md §2."""

from darkpool.clearing.document import dump_result, load_round, parse_round, round_to_document
from darkpool.clearing.reference import LevelCurve, clear_reference, curves
from darkpool.clearing.vectorized import (
    ArrayResult,
    OrderArrays,
    clear_arrays,
    clear_vectorized,
    curves_arrays,
)

__all__ = [
    "ArrayResult",
    "LevelCurve",
    "OrderArrays",
    "clear_arrays",
    "clear_reference",
    "clear_vectorized",
    "curves",
    "curves_arrays",
    "dump_result",
    "load_round",
    "parse_round",
    "round_to_document",
]
