"""Circuit shapes: how many order slots, band levels and quantity digits a compiled circuit takes.

A shape fixes every tensor size of the clearing circuit. Each order slot carries
``threshold_digits`` base-4 digits of its band threshold, one side digit and ``quantity_digits``
base-4 digits of its quantity, all masked (see :mod:`fhe.encoding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NewType

from darkpool.errors import ShapeError

__all__ = [
    "CircuitId",
    "MAX_LEVELS",
    "MAX_QUANTITY_DIGITS",
    "MAX_SLOTS",
    "LEVEL_SIZES",
    "QUANTITY_DIGIT_SIZES",
    "SLOT_SIZES",
    "Shape",
    "choose_shape",
]

CircuitId = NewType("CircuitId", str)
"""Names a compiled circuit: shape, concrete version, digest of the circuit's source."""

SLOT_SIZES = (4, 8, 16, 32, 64)
"""Slot counts that shapes come in; a round uses the smallest that holds its orders."""
LEVEL_SIZES = (1, 2, 4, 8, 16)
"""Band sizes that shapes come in; a smaller band is padded with levels that never trade."""
QUANTITY_DIGIT_SIZES = (1, 2, 4)
"""Quantity digits that shapes come in: up to 3, 15 or 255 lots."""
MAX_SLOTS = SLOT_SIZES[-1]
MAX_LEVELS = 16
MAX_QUANTITY_DIGITS = 4
"""Quantities up to ``4**4 - 1 = 255`` lots."""
GROUP_SLOTS = 4
"""Slots summed before a carry: 4 slots of digit 3 plus a carry of 3 stay within 4 bits."""


def _digits_for(max_value: int) -> int:
    count = 1
    while 4**count <= max_value:
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class Shape:
    """The static sizes of one clearing circuit."""

    slots: int
    levels: int
    quantity_digits: int

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= MAX_SLOTS:
            raise ShapeError(f"slots must be in 1..{MAX_SLOTS}, got {self.slots}")
        if not 1 <= self.levels <= MAX_LEVELS:
            raise ShapeError(f"levels must be in 1..{MAX_LEVELS}, got {self.levels}")
        if not 1 <= self.quantity_digits <= MAX_QUANTITY_DIGITS:
            raise ShapeError(f"quantity_digits must be in 1..{MAX_QUANTITY_DIGITS}, got {self.quantity_digits}")

    @property
    def id(self) -> str:
        """A short stable name, used in cache paths and circuit ids."""
        return f"n{self.slots}-l{self.levels}-q{self.quantity_digits}"

    @property
    def max_quantity(self) -> int:
        return int(4**self.quantity_digits - 1)

    @property
    def threshold_digits(self) -> int:
        """Digits of an order's band threshold (see :mod:`fhe.encoding`)."""
        return _digits_for(self.levels - 1)

    @property
    def top_threshold_digit(self) -> int:
        """The largest value the circuit lets the top threshold digit take."""
        top = (self.levels - 1) >> (2 * (self.threshold_digits - 1))
        return (1 << top.bit_length()) - 1

    @property
    def threshold_bound(self) -> int:
        """Largest threshold the digits can carry; the circuit clamps anything above ``levels - 1``."""
        return int(4 ** (self.threshold_digits - 1) * (self.top_threshold_digit + 1) - 1)

    @property
    def digits_per_slot(self) -> int:
        """Threshold digits, one side digit, quantity digits."""
        return self.threshold_digits + 1 + self.quantity_digits

    @property
    def volume_digits(self) -> int:
        return _digits_for(self.slots * self.max_quantity)

    @property
    def position_digits(self) -> int:
        return _digits_for(self.levels - 1)

    @property
    def groups(self) -> tuple[tuple[int, int], ...]:
        """Slot ranges summed together before carrying."""
        return tuple((g, min(g + GROUP_SLOTS, self.slots)) for g in range(0, self.slots, GROUP_SLOTS))


def choose_shape(slots_needed: int, levels: int, quantities: Sequence[int]) -> Shape:
    """Return the smallest standard shape that holds a round, or raise :class:`ShapeError`.

    Shapes come in a few standard sizes so a handful of compiled circuits and key sets serve
    every round; the shape is public (it reveals an upper bound on the order count only).
    """
    if slots_needed > MAX_SLOTS:
        raise ShapeError(f"a round of {slots_needed} orders exceeds the largest shape ({MAX_SLOTS} slots)")
    if levels > MAX_LEVELS:
        raise ShapeError(f"a band of {levels} levels exceeds the largest shape ({MAX_LEVELS} levels)")
    largest = max(quantities, default=1)
    limit = 4**MAX_QUANTITY_DIGITS - 1
    if largest > limit:
        raise ShapeError(f"a quantity of {largest} lots exceeds the largest shape ({limit} lots)")
    slots = next(size for size in SLOT_SIZES if size >= slots_needed)
    padded = next(size for size in LEVEL_SIZES if size >= levels)
    digits = next(size for size in QUANTITY_DIGIT_SIZES if size >= _digits_for(largest))
    return Shape(slots, padded, digits)
