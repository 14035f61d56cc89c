"""Keep a process's exit status once concrete has run a circuit in it.

concrete-python's runtime, once it has evaluated a circuit, ends the process with status 0 from its
exit handlers whatever status Python was leaving with: a failed command, a crashed service or a
failing test run would report success. :func:`exit_with_status` leaves with the status Python chose,
after flushing what Python would have flushed, without running those handlers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

__all__ = ["exit_with_status", "run_keeping_status"]


def exit_with_status(status: int) -> NoReturn:
    """End the process now with ``status``: logs and standard streams flushed, exit handlers skipped."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():  # a local Ray started here dies with its handlers
        with contextlib.suppress(Exception):
            ray.shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing to flush
            stream.flush()
    os._exit(status)


def run_keeping_status(main: Callable[[], object]) -> None:
    """Run ``main``; if it fails once concrete is loaded, leave with the failure's status (success: normally)."""
    try:
        main()
    except SystemExit as done:
        if "concrete" not in sys.modules or done.code in (None, 0):
            raise
        if isinstance(done.code, int):
            exit_with_status(done.code)
        print(done.code, file=sys.stderr)
        exit_with_status(1)
    except BaseException:
        if "concrete" not in sys.modules:
            raise
        import traceback

        traceback.print_exc()
        exit_with_status(1)
