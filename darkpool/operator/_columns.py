"""Many rows of a journal event as columns: a round's commitments and reveals run to 100,000 rows, and
columns encode and hash several times faster than rows of strings (see :mod:`darkpool.operator.events`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from darkpool.domain import Account

__all__ = ["columns", "rows"]


def columns(rows: tuple[tuple[Any, ...], ...], names: tuple[str, ...], packed: frozenset[str]) -> dict[str, Any]:
    """Rows as columns; fixed-size byte fields packed into one hex string each."""
    cells = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    out: dict[str, Any] = {}
    for name, column in zip(names, cells, strict=True):
        if name == "account":
            out[name] = "0x" + "".join(a[2:] for a in column)
        elif name in packed:
            out[name] = "0x" + b"".join(column).hex()
        else:
            out[name] = list(column)
    return out


def rows(columns: Mapping[str, Any], names: tuple[str, ...], sizes: Mapping[str, int]) -> list[tuple[Any, ...]]:
    """The inverse of :func:`columns`."""
    count = len(columns[names[1]])
    decoded: list[list[Any]] = []
    for name in names:
        value = columns[name]
        if name == "account":
            raw = value[2:]
            decoded.append([Account("0x" + raw[40 * i:40 * i + 40]) for i in range(count)])
        elif name in sizes:
            raw, size = bytes.fromhex(value[2:]), sizes[name]
            if len(raw) != size * count:
                raise ValueError(f"column {name} holds {len(raw)} bytes, expected {size * count}")
            decoded.append([raw[size * i:size * i + size] for i in range(count)])
        else:
            decoded.append(list(value))
    if any(len(c) != count for c in decoded):
        raise ValueError("columns of unequal length")
    return list(zip(*decoded, strict=True))
