"""Radix-4 arithmetic on encrypted tensors, with every table lookup at most 4 bits wide.

Numbers are tensors whose last axis holds base-4 digits, least significant first. Each helper
packs its operands into one small table index (``16 * bit + 4 * a + b`` and the like), hints
concrete about the index's largest value so the bit width never depends on the inputset, and
looks it up once per element. The helpers also run on plain NumPy arrays, which is how the
circuit is checked without compiling it.

Comparison codes are ``LT`` (0), ``EQ`` (1) and ``GT`` (2): the first operand against the second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from concrete import fhe

from fhe.arrays import IntArray

__all__ = [
    "EQ",
    "GT",
    "IntArray",
    "LT",
    "MAX_LOOKUP_BITS",
    "Tensor",
    "any_nonzero",
    "combine",
    "compare",
    "concat",
    "digits_of",
    "last",
    "lookup",
    "lookup_each",
    "normalize",
    "select",
    "subtract_mod",
    "take",
]

LT, EQ, GT = 0, 1, 2
MAX_LOOKUP_BITS = 4
"""The widest table index any helper builds: one parameter set then serves every lookup, and
concrete prices every bootstrap of a circuit by its widest one (5 bits cost twice, 6 bits 4x)."""

Tensor = Any
"""An encrypted tracer while compiling, a NumPy integer array when run in the clear."""



def _bits(bound: int) -> int:
    return max(1, int(bound).bit_length())


def lookup(index: Tensor, bound: int, fn: Callable[[int], int]) -> Tensor:
    """Apply ``fn`` to every element of ``index`` (each known to be in ``0..bound``) in one lookup."""
    bits = _bits(bound)
    if bits > MAX_LOOKUP_BITS:
        raise AssertionError(f"lookup of {bits} bits (bound {bound}) exceeds {MAX_LOOKUP_BITS}")
    table = fhe.LookupTable([fn(i) if i <= bound else 0 for i in range(1 << bits)])
    return table[fhe.hint(index, can_store=bound)]


def lookup_each(index: Tensor, bound: int, fns: npt.NDArray[Any]) -> Tensor:
    """Apply ``fns[...]`` elementwise (an array of callables shaped like ``index``) in one lookup."""
    bits = _bits(bound)
    if bits > MAX_LOOKUP_BITS:
        raise AssertionError(f"lookup of {bits} bits (bound {bound}) exceeds {MAX_LOOKUP_BITS}")
    tables = np.empty(fns.shape, dtype=object)
    for pos, fn in np.ndenumerate(fns):
        tables[pos] = fhe.LookupTable([fn(i) if i <= bound else 0 for i in range(1 << bits)])
    return fhe.LookupTable(tables)[fhe.hint(index, can_store=bound)]


def take(x: Tensor, j: int | slice) -> Tensor:
    """Index the last axis (concrete's tracers accept neither ``...`` nor ``None``)."""
    ndim = len(x.shape)
    return x[(slice(None),) * (ndim - 1) + (j,)]


def last(x: Tensor) -> Tensor:
    """Add a trailing axis of length one."""
    return x.reshape((*x.shape, 1))


def concat(parts: Sequence[Tensor], axis: int = -1) -> Tensor:
    """Concatenate along ``axis`` (a tuple, as concrete's tracer requires)."""
    if len(parts) == 1:
        return parts[0]
    ndim = len(parts[0].shape)
    return np.concatenate(tuple(parts), axis=axis % ndim)


def digits_of(value: int, count: int) -> list[int]:
    """Return the ``count`` base-4 digits of ``value``, least significant first."""
    return [(value >> (2 * j)) & 3 for j in range(count)]


def normalize(columns: Tensor, column_bound: int, width: int, value_bound: int) -> Tensor:
    """Turn column sums into ``width`` base-4 digits by ripple carry.

    Every column is at most ``column_bound`` and the number itself at most ``value_bound``,
    which must fit ``width`` digits (so the top digit needs no carry). Each step looks up
    ``column + carry`` twice, for the digit and the carry, so the column bound plus the largest
    carry must fit in :data:`MAX_LOOKUP_BITS`.
    """
    if value_bound >= 4**width:
        raise AssertionError(f"normalize: {width} digits cannot hold {value_bound}")
    count = columns.shape[-1]
    digits: list[Tensor] = []
    carry: Tensor | None = None
    carry_bound = 0
    for j in range(width):
        if j < count:
            total = take(columns, j) if carry is None else take(columns, j) + carry
            bound = column_bound + carry_bound
        elif carry is not None:
            total, bound = carry, carry_bound
        else:
            total, bound = take(columns, 0) * 0, 0
        bound = min(bound, value_bound >> (2 * j))
        if bound <= 3 or j == width - 1:
            digits.append(total)
            carry, carry_bound = None, 0
            continue
        digits.append(lookup(total, bound, lambda v: v % 4))
        carry = lookup(total, bound, lambda v: v // 4)
        carry_bound = bound // 4
    return concat([last(d) for d in digits])


def compare(a: Tensor, b: Tensor, *, result: Callable[[int], int]) -> Tensor:
    """Compare digit tensors ``a`` and ``b`` (broadcast); return ``result(code)`` per number.

    One lookup per digit pair, then a tree of lookups that keeps the more significant code
    unless it is ``EQ``; the last lookup of the tree applies ``result``.
    """
    codes = lookup(4 * a + b, 15, lambda v: _code(v // 4, v % 4))
    return combine(codes, result=result)


def _code(a: int, b: int) -> int:
    return LT if a < b else (GT if a > b else EQ)


def combine(codes: Tensor, *, result: Callable[[int], int]) -> Tensor:
    """Reduce comparison codes along the last axis (most significant last) lexicographically."""
    if codes.shape[-1] == 1:
        return lookup(take(codes, 0), 2, result)
    while codes.shape[-1] > 1:
        count = codes.shape[-1]
        pairs = count // 2
        low = take(codes, slice(0, 2 * pairs, 2))
        high = take(codes, slice(1, 2 * pairs, 2))
        mapping = result if count == 2 else None
        merged = lookup(3 * high + low, 8, _merger(mapping))
        codes = merged if count % 2 == 0 else concat([merged, take(codes, slice(count - 1, count))])
    return take(codes, 0)


def _merger(result: Callable[[int], int] | None) -> Callable[[int], int]:
    return lambda v: _merge(v // 3, v % 3, result)


def _merge(high: int, low: int, result: Callable[[int], int] | None) -> int:
    code = low if high == EQ else high
    return code if result is None else result(code)


def select(bit: Tensor, if_one: Tensor, if_zero: Tensor) -> Tensor:
    """Return ``if_one`` where ``bit`` is 1, else ``if_zero`` (digits, broadcast): one 4-bit lookup.

    The lookup computes ``bit * (if_one - if_zero) + 3`` from ``8 * bit + (if_one + 3 - if_zero)``
    and the result is ``if_zero`` plus that, minus 3 (no intermediate goes negative).
    """
    shifted = lookup(8 * bit + (if_one + 3 - if_zero), 14, lambda v: v % 8 if v >= 8 else 3)
    return if_zero + shifted - 3


def any_nonzero(digits: Tensor) -> Tensor:
    """Return 1 where any digit along the last axis is non-zero, else 0 (chunks of 5 digits)."""
    while True:
        count = digits.shape[-1]
        if count <= 5:
            return lookup(np.sum(digits, axis=len(digits.shape) - 1), 3 * count, lambda v: 1 if v else 0)
        chunks = [take(digits, slice(start, min(start + 5, count))) for start in range(0, count, 5)]
        digits = concat(
            [last(lookup(np.sum(c, axis=len(c.shape) - 1), 3 * c.shape[-1], lambda v: 1 if v else 0)) for c in chunks]
        )


def subtract_mod(a: Tensor, b: Tensor) -> Tensor:
    """Return the digits of ``(a - b) mod 4**n`` for digit tensors of equal length ``n``."""
    count = a.shape[-1]
    digits: list[Tensor] = []
    borrow: Tensor | None = None
    for j in range(count):
        total = take(a, j) + 4 - take(b, j)
        if borrow is not None:
            total = total - borrow
        digits.append(lookup(total, 7, lambda v: v % 4))
        if j + 1 < count:
            borrow = lookup(total, 7, lambda v: 1 if v < 4 else 0)
    return concat([last(d) for d in digits])
