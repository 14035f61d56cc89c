"""Signers of the order endpoint recovered in a child process, many per round trip.

The operator rate-limits each signed order on its *verified* signer, so every order's signature
is recovered before the round's checks (which then reuse the result). Recovery is a C call of
about 50 µs that lets go of the GIL and must win it back from the journal's writer: on the event
loop's thread it is the largest single cost of an order. :class:`SignerRecovery` sends the
signatures of the orders waiting at one moment to a child process in one message over its pipes
(read and written by the loop itself, no thread) and hands each request its signer; while the
child works, the loop serves other requests, so the child's core does the recovery in parallel.

The answers are the same as recovering in process: signatures are checked for canonical form
here first, exactly as :func:`~darkpool.crypto.secp256k1.recover_digest` does, and a signature
that recovers nothing is unrecoverable either way. Without a child (an app never started, such
as one driven in process by tests) or once the child has failed, recovery runs in process.

Wire form, both ways over the child's stdin and stdout: a request is a 4-byte little-endian count
``n``, then ``n`` 32-byte digests, then ``n`` 65-byte signatures; the answer is ``n`` 20-byte
addresses, zero where nothing recovers (no known key has the zero address).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
from typing import BinaryIO

from darkpool.crypto.secp256k1 import check_canonical, recover_digest, recover_packed

__all__ = ["UNRECOVERABLE", "SignerRecovery", "serve_child"]

UNRECOVERABLE = "unrecoverable"
"""The rate-limit key of a signature that recovers no signer."""

_log = logging.getLogger("darkpool.operator")
_COUNT = struct.Struct("<I")
_MAX_BATCH = 4096
_ANSWER_TIMEOUT_S = 10.0
"""A child silent this long is taken for dead (4,096 recoveries take well under a second)."""


def _in_process(digest: bytes, signature: bytes) -> str:
    try:
        return recover_digest(digest, signature)
    except ValueError:
        return UNRECOVERABLE


class SignerRecovery:
    """Recover signers (lowercase 0x addresses, or :data:`UNRECOVERABLE`) in a child process once started."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        """The child while it answers; ``None`` before it starts and once it failed."""
        self._child: asyncio.subprocess.Process | None = None
        """The child process until :meth:`stop` (failed or not), to be reaped there."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[bytes, bytes, asyncio.Future[str]]] = []
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        """Whether a child recovers (else recovery runs in process)."""
        return self._process is not None

    async def start(self) -> None:
        """Start the child; on failure, log it and keep recovering in process."""
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        except OSError as exc:
            _log.warning("signature recovery stays in process: cannot start its child: %s", exc)
            return
        self._child = self._process
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._pump = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Stop the child (what waits is recovered in process)."""
        process, self._process, self._child = self._child, None, None
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        self._settle_in_process()
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    async def signer(self, digest: bytes, signature: bytes) -> str:
        """The signer of ``digest`` by ``signature`` (as :func:`recover_digest`), or :data:`UNRECOVERABLE`."""
        try:
            check_canonical(signature)
        except ValueError:
            return UNRECOVERABLE
        if len(digest) != 32:
            return UNRECOVERABLE
        if self._process is None or self._wake is None or asyncio.get_running_loop() is not self._loop:
            return _in_process(digest, signature)
        found: asyncio.Future[str] = self._loop.create_future()
        self._pending.append((digest, signature, found))
        self._wake.set()
        return await found

    async def _serve(self) -> None:
        """Send what waits in one message, hand out the answers, again; fall back to in process on failure."""
        process, wake = self._process, self._wake
        assert process is not None and process.stdin is not None and process.stdout is not None and wake is not None
        batch: list[tuple[bytes, bytes, asyncio.Future[str]]] = []
        try:
            while True:
                await wake.wait()
                wake.clear()
                while self._pending:
                    batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                    process.stdin.write(b"".join((_COUNT.pack(len(batch)), *(d for d, _, _ in batch),
                                                  *(s for _, s, _ in batch))))
                    answer = await asyncio.wait_for(process.stdout.readexactly(20 * len(batch)), _ANSWER_TIMEOUT_S)
                    for i, (_, _, found) in enumerate(batch):
                        if not found.done():
                            address = answer[20 * i:20 * i + 20]
                            found.set_result("0x" + address.hex() if any(address) else UNRECOVERABLE)
                    batch = []
        except asyncio.CancelledError:
            self._pending[:0] = batch
            raise
        except Exception as exc:  # the pipe, the child or anything unforeseen: nobody waiting may hang on it
            _log.error("signature recovery child failed (%r): recovering in process from now on", exc)
            self._process = None
            self._pending[:0] = batch
            self._settle_in_process()
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    def _settle_in_process(self) -> None:
        pending, self._pending = self._pending, []
        for digest, signature, found in pending:
            if not found.done():
                found.set_result(_in_process(digest, signature))


def serve_child(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: answer each request of the wire form until ``requests`` ends."""
    while True:
        head = requests.read(4)
        if len(head) < 4:
            return
        (count,) = _COUNT.unpack(head)
        body = requests.read(97 * count)
        if len(body) < 97 * count:
            return
        answers.write(recover_packed((body[:32 * count], body[32 * count:])))
        answers.flush()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C stops the operator, which then closes our stdin
    serve_child(sys.stdin.buffer, sys.stdout.buffer)
