"""Radix-4 arithmetic on encrypted tensors, with every table lookup at most 4 bits wide.

Numbers are tensors whose last axis holds base-4 digits, least significant first. Each helper
packs its operands into one small table index (``8 * bit + 4 * a + b`` and the like), hints
concrete about the index's largest value so the bit width never depends on the inputset, and
looks it up once per element. The helpers also run on plain NumPy arrays, which is how the
circuit is checked without compiling it.

Two habits keep the bootstrap count down:

- a carry costs one lookup, not two: the lookup gives ``v // 4`` and the digit is the linear
  ``v - 4 * (v // 4)``, which needs no bootstrap;
- comparisons ripple one bit from the least significant digit up, one lookup per digit
  (``(a - b + 3) + 7 * bit`` fits 4 bits), instead of a digit code per pair and a tree of merges.

Linear digits cost noise instead: every value a lookup reads is a weighted sum of fresh values,
and the noisiest such sum sets the one parameter set for every bootstrap (see
:data:`LOOKUP_NOISE`). So fresh bits take the large weights, noisy digits weight one, and a
digit that has become too noisy is looked up afresh. Every linear intermediate that feeds a
lookup stays in ``0..15`` and never goes negative, so concrete gives it 4 unsigned bits (its
bit widths are shared along additions).

Comparison codes are ``LT`` (0), ``EQ`` (1) and ``GT`` (2): the first operand against the second.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

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
    "DIGIT_NOISE",
    "LOOKUP_NOISE",
    "Tensor",
    "add_digits",
    "any_nonzero",
    "combine",
    "compare",
    "concat",
    "digits_of",
    "exceeds",
    "last",
    "lookup",
    "lookup_each",
    "select",
    "select_pair",
    "take",
    "uniform_lookups",
    "width_for",
]

LT, EQ, GT = 0, 1, 2
MAX_LOOKUP_BITS = 4
"""The widest table index any helper builds: one parameter set then serves every lookup, and
concrete prices every bootstrap of a circuit by its widest one (5 bits cost twice, 6 bits 4x)."""
_WIDEST = (1 << MAX_LOOKUP_BITS) - 1
LOOKUP_NOISE = 1024
"""The most noise a lookup may read, as the squared 2-norm of the weights of the fresh values (lookup
outputs, inputs) whose linear combination it reads: ``8 * bit + a - b`` of fresh values is 66.
Concrete sizes the one parameter set for the noisiest lookup; up to about 1,500 it keeps the
parameters of a circuit of fresh digits, at 3,500 the bootstrap key doubles and every bootstrap
costs 40% more. A digit left by a carry (``v - 4 * carry``) adds 16 to ``v``'s noise."""
DIGIT_NOISE = 448
"""The most noise a digit from :func:`add_digits` may carry: two such digits, a fresh verdict at
weight 7 and a few selects still stay within :data:`LOOKUP_NOISE`."""

Tensor = Any
"""An encrypted tracer while compiling, a NumPy integer array when run in the clear."""


_UNIFORM = contextvars.ContextVar("uniform_lookups", default=False)


@contextmanager
def uniform_lookups() -> Iterator[None]:
    """Give every lookup traced inside the full :data:`MAX_LOOKUP_BITS` width.

    Under concrete's ``MULTI`` strategy each table width is a partition of its own, with keys
    between every pair; at one width there is one partition, as under ``MONO``.
    """
    token = _UNIFORM.set(True)
    try:
        yield
    finally:
        _UNIFORM.reset(token)


def _bits(bound: int) -> int:
    return MAX_LOOKUP_BITS if _UNIFORM.get() else max(1, int(bound).bit_length())


def _hinted(index: Tensor, bound: int) -> Tensor:
    return fhe.hint(index, bit_width=MAX_LOOKUP_BITS) if _UNIFORM.get() else fhe.hint(index, can_store=bound)


def lookup(index: Tensor, bound: int, fn: Callable[[int], int]) -> Tensor:
    """Apply ``fn`` to every element of ``index`` (each known to be in ``0..bound``) in one lookup."""
    bits = _bits(bound)
    if bits > MAX_LOOKUP_BITS:
        raise AssertionError(f"lookup of {bits} bits (bound {bound}) exceeds {MAX_LOOKUP_BITS}")
    table = fhe.LookupTable([fn(i) if i <= bound else 0 for i in range(1 << bits)])
    return table[_hinted(index, bound)]


def lookup_each(index: Tensor, bound: int, fns: npt.NDArray[Any]) -> Tensor:
    """Apply ``fns[...]`` elementwise (an array of callables shaped like ``index``) in one lookup."""
    bits = _bits(bound)
    if bits > MAX_LOOKUP_BITS:
        raise AssertionError(f"lookup of {bits} bits (bound {bound}) exceeds {MAX_LOOKUP_BITS}")
    tables = np.empty(fns.shape, dtype=object)
    for pos, fn in np.ndenumerate(fns):
        tables[pos] = fhe.LookupTable([fn(i) if i <= bound else 0 for i in range(1 << bits)])
    return fhe.LookupTable(tables)[_hinted(index, bound)]


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


def width_for(value: int) -> int:
    """Return how many base-4 digits hold every number up to ``value``."""
    width = 1
    while 4**width <= value:
        width += 1
    return width


def add_digits(entries: Tensor, value_bound: int, noise: int = 1) -> Tensor:
    """Sum numbers given as digits into normalized digits: ``E x B x D`` in, ``B x W`` out.

    ``entries[e, b]`` are the ``D`` base-4 digits of the ``e``-th addend of sum ``b``; every sum is
    at most ``value_bound``, which sets ``W``, and every entry's noise is at most ``noise`` (see
    :data:`LOOKUP_NOISE`). Each column is reduced by carry lookups: up to five digits (at most 15
    together) are added, one lookup gives the carry into the next column and the digit left behind
    is linear. A column of ``E`` digits costs about ``E / 4`` lookups per sum. Each output digit's
    noise is at most :data:`DIGIT_NOISE`: a digit left noisier is looked up afresh.
    """
    count, _, digits = entries.shape
    width = width_for(value_bound)
    columns: list[list[tuple[Tensor, list[_Row]]]] = [[] for _ in range(width)]
    for j in range(min(digits, width)):
        columns[j] = [(take(entries, j), [_Row(3, noise)] * count)]
    out: list[Tensor] = []
    for j in range(width):
        parts = columns[j]
        if not parts:
            out.append(take(entries, 0)[0:1] * 0)
            continue
        tensor = concat([t for t, _ in parts], axis=0)
        rows = [row for _, part in parts for row in part]
        while j < width - 1 and (len(rows) > 1 or rows[0].bound > 3):
            tensor, rows, carries = _carry_round(tensor, rows)
            if carries is not None:
                columns[j + 1].append(carries)
        if len(rows) > 1:
            # The value bound keeps the top column a digit, whatever its rows' bounds say.
            tensor, rows = np.ones((1, len(rows)), dtype=np.int64) @ tensor, [_Row(3, sum(r.noise for r in rows))]
        if rows[0].noise > DIGIT_NOISE:
            tensor = lookup(tensor, 3, lambda v: v)
        out.append(tensor)
    return np.transpose(concat(out, axis=0))


class _Row(NamedTuple):
    bound: int
    noise: int


def _carry_round(tensor: Tensor, rows: list[_Row]) -> tuple[Tensor, list[_Row], tuple[Tensor, list[_Row]] | None]:
    """Add rows in groups (first fit, at most 15 together); one carry lookup for every group."""
    groups: list[list[int]] = []
    for r in sorted(range(len(rows)), key=lambda r: (-rows[r].bound, rows[r].noise)):
        for group in groups:
            fits = sum(rows[g].bound for g in group) + rows[r].bound <= _WIDEST
            if fits and sum(rows[g].noise for g in group) + rows[r].noise <= LOOKUP_NOISE:
                group.append(r)
                break
        else:
            groups.append([r])
    totals = [_Row(sum(rows[r].bound for r in group), sum(rows[r].noise for r in group)) for group in groups]
    # A group that cannot reach 4 needs no carry: its sum is already a digit.
    kept = [g for g, total in enumerate(totals) if total.bound <= 3]
    carried = [g for g, total in enumerate(totals) if total.bound > 3]
    if not carried:
        return _grouping(groups, kept, len(rows)) @ tensor, [totals[g] for g in kept], None
    sums = _grouping(groups, carried, len(rows)) @ tensor
    carry = lookup(sums, max(totals[g].bound for g in carried), lambda v: v // 4)
    low = sums - 4 * carry
    next_rows = [low] if not kept else [_grouping(groups, kept, len(rows)) @ tensor, low]
    lows = [_Row(min(3, totals[g].bound), totals[g].noise + 16) for g in carried]
    carries = [_Row(totals[g].bound // 4, 1) for g in carried]
    return concat(next_rows, axis=0), [totals[g] for g in kept] + lows, (carry, carries)


def _grouping(groups: list[list[int]], chosen: list[int], count: int) -> IntArray:
    matrix = np.zeros((len(chosen), count), dtype=np.int64)
    for row, g in enumerate(chosen):
        matrix[row, groups[g]] = 1
    return matrix


def exceeds(a: Tensor, b: Tensor, *, or_equal: bool = False) -> Tensor:
    """Return ``[a > b]`` (``[a >= b]`` with ``or_equal``) per number of digit tensors (broadcast).

    One lookup per digit, least significant first: each reads the digit difference and the
    verdict so far, which the more significant digit overrides unless the digits are equal. The
    verdict is fresh, so it takes the large weight (7) and the difference the small one.
    """
    bit = lookup((take(a, 0) + 3) - take(b, 0), 6, lambda v: 1 if v > 3 or (or_equal and v == 3) else 0)
    for j in range(1, a.shape[-1]):
        index = ((take(a, j) + 3) - take(b, j)) + 7 * bit
        bit = lookup(index, 13, lambda v: 1 if v % 7 > 3 or (v % 7 == 3 and v >= 7) else 0)
    return bit


def compare(a: Tensor, b: Tensor, *, result: Callable[[int], int]) -> Tensor:
    """Compare digit tensors ``a`` and ``b`` (broadcast); return ``result(code)`` per number.

    One lookup per digit pair, then a tree of lookups that keeps the more significant code
    unless it is ``EQ``; the last lookup of the tree applies ``result``. (Parallel, but about
    twice the lookups of :func:`exceeds`.)
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


def select_pair(bit: Tensor, if_one: Tensor, if_zero: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(bit ? if_one : if_zero, bit ? if_zero : if_one)`` with the one lookup of :func:`select`.

    Both come from the same shifted difference, so each carries one operand's noise plus one
    lookup's, never both operands'.
    """
    shifted = lookup(8 * bit + (if_one + 3 - if_zero), 14, lambda v: v % 8 if v >= 8 else 3)
    return if_zero + shifted - 3, (if_one + 3) - shifted


def any_nonzero(digits: Tensor, noise: int = 1) -> Tensor:
    """Return 1 where any digit along the last axis is non-zero, else 0.

    Digits are summed in chunks of up to 5 (at most 15), fewer when ``noise`` (each digit's) would
    take a chunk's sum past :data:`LOOKUP_NOISE`.
    """
    size = max(1, min(5, LOOKUP_NOISE // noise))
    while True:
        count = digits.shape[-1]
        if count <= size:
            return lookup(np.sum(digits, axis=len(digits.shape) - 1), 3 * count, lambda v: 1 if v else 0)
        chunks = [take(digits, slice(start, min(start + size, count))) for start in range(0, count, size)]
        digits = concat(
            [last(lookup(np.sum(c, axis=len(c.shape) - 1), 3 * c.shape[-1], lambda v: 1 if v else 0)) for c in chunks]
        )
        size = 5
