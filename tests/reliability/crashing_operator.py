"""``python -m tests.reliability.crashing_operator``: the real operator, killed -9 by itself after a side effect.

Settings come from ``DARKPOOL_*`` as for ``darkpool serve``. ``DARKPOOL_CRASH_AFTER`` names a chain
call of the settler (``seal_round`` or ``settle``): the first such call goes to the chain, its
transaction is mined, and the process then SIGKILLs itself before it can journal the outcome, which
is the window the operator must reconcile on restart. ``DARKPOOL_CLOCK_OFFSET_FILE`` holds seconds
the operator's clock runs ahead of the wall clock (tests close a round's phases by moving it on).
Nothing here changes the operator's code.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from darkpool.operator import create_operator_app
from darkpool.operator.settler import ChainSettler
from darkpool.settlement import RpcChain
from darkpool.web.serve import serve
from darkpool.web.settings import OperatorSettings

__all__ = ["CrashAfter"]


class CrashAfter:
    """A settler whose first call of ``method`` lands on chain, then kills the process with SIGKILL."""

    def __init__(self, inner: Any, method: str) -> None:
        self.inner, self.method = inner, method

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args: Any) -> Any:
            real(*args)  # mined: the chain holds it, the journal does not yet
            os.kill(os.getpid(), signal.SIGKILL)
            raise AssertionError("unreachable: the process was killed")

        return call


def main() -> None:
    settings = OperatorSettings()
    assert settings.rpc_url and settings.operator_address
    settler: Any = ChainSettler(RpcChain(settings.rpc_url), settings.vault, settings.operator_address)
    crash_after = os.environ.get("DARKPOOL_CRASH_AFTER", "")
    if crash_after:
        settler = CrashAfter(settler, crash_after)
    offset_file = Path(os.environ["DARKPOOL_CLOCK_OFFSET_FILE"])

    def clock() -> int:
        return int(time.time()) + int(offset_file.read_text() or 0)

    serve(create_operator_app(settings, settler=settler, clock=clock), settings.host, settings.port)


if __name__ == "__main__":
    main()
