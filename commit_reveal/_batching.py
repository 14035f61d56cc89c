"""Batch hygiene shared by the round's bulk operations."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["cyclic_gc_paused"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class cyclic_gc_paused:  # noqa: N801 (named like the context manager it replaced)
    """Pause Python's cyclic garbage collector for one batch, then restore it.

    A batch of 100,000 orders allocates around a million small objects and no reference cycles;
    left running, the collector would scan the growing heap again and again for nothing.
    Reference counting still frees everything as usual. Use it as ``with cyclic_gc_paused():``
    or as a decorator, ``@cyclic_gc_paused()``: a plain class rather than ``contextlib``'s
    generator form, because the decorated functions also serve one order per request, where a
    generator context manager made afresh per call cost more than the order's own checks.
    """

    __slots__ = ("_was_enabled",)

    def __init__(self) -> None:
        self._was_enabled = False

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            if not gc.isenabled():
                return func(*args, **kwargs)
            gc.disable()
            try:
                return func(*args, **kwargs)
            finally:
                gc.enable()

        return paused
