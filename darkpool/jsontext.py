"""JSON text from outside, parsed with its nesting bounded first.

CPython's C JSON parser recurses once per nesting level; with the interpreter's recursion limit
raised (test runners and some libraries raise it), text nested 100,000 deep overflows the C stack
and kills the process instead of raising. Every parser of untrusted JSON text in the project
counts the nesting first, strings skipped, and refuses deep text with its own error class.
"""

from __future__ import annotations

import json
import re
from typing import Any

from darkpool.errors import DarkPoolError

__all__ = ["loads_bounded", "nesting"]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def nesting(text: str) -> int:
    """The deepest bracket nesting of JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads_bounded(text: str | bytes, *, max_depth: int, error: type[DarkPoolError], what: str,
                  **options: Any) -> Any:
    """Parse ``text`` (``json.loads`` ``options``), raising ``error`` for bad UTF-8, bad JSON or deep nesting."""
    try:
        decoded = text.decode() if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
    if nesting(decoded) > max_depth:
        raise error(f"{what} is nested too deeply (more than {max_depth} levels)")
    try:
        return json.loads(decoded, **options)
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        raise error(f"{what} is not valid JSON: {exc}") from None
