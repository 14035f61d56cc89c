"""Run the services: ``serve_operator``, ``serve_custodian``, ``serve_verifier`` for the CLI; :class:`ServerThread`
for tests."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from darkpool.errors import StorageError
from darkpool.web.observability import mark_draining

__all__ = ["DRAIN_TIMEOUT_S", "DrainingServer", "ServerThread", "free_port", "reserve_port", "serve",
           "serve_custodian", "serve_operator", "serve_verifier"]

_log = logging.getLogger("darkpool.serve")


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reserve_port() -> socket.socket:
    """Bind a free loopback port and keep it bound, for :class:`ServerThread` to serve on later: unlike
    :func:`free_port`, nothing else can take it in between."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


DRAIN_TIMEOUT_S = 30
"""How long a stopping service waits for its in-flight requests before it cancels them."""


class DrainingServer(uvicorn.Server):
    """uvicorn's server, ending with exit status 0 once a SIGTERM or SIGINT has drained it.

    On either signal uvicorn stops accepting connections, lets in-flight requests finish (each
    acknowledgement still waits for its journal entry to be durable) and runs the app's shutdown,
    which writes what the journal holds and closes it. uvicorn then re-raises the signal, so the
    process would die of it (status -15) after a clean drain; this server does not re-raise. From the
    signal on, the app's ``/ready`` answers 503 (see :func:`~darkpool.web.observability.mark_draining`).
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        mark_draining(self.config.app)  # /ready answers 503 at once: balancers stop routing here
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
            if self._captured_signals:
                _log.info("stopped", extra={"signal": signal.Signals(self._captured_signals[0]).name})


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then drain and return (the process exits 0)."""
    # No access log: at level warning uvicorn would drop each line anyway, after building its fields
    # per request; requests are counted and timed by the metrics instead.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=DRAIN_TIMEOUT_S)
    DrainingServer(config).run()


def serve_operator(**overrides: Any) -> None:
    """Run the operator (settings from ``DARKPOOL_*`` and ``overrides``) until SIGTERM, then drain."""
    from darkpool.operator.api.app import create_operator_app
    from darkpool.web.settings import OperatorSettings

    settings = OperatorSettings(**overrides)
    serve(create_operator_app(settings), settings.host, settings.port)


def serve_custodian(**overrides: Any) -> None:
    """Run the key custodian (settings from ``DARKPOOL_CUSTODIAN_*`` and ``overrides``) until SIGTERM, then drain."""
    from darkpool.custodian.api import create_custodian_app
    from darkpool.web.settings import CustodianSettings

    settings = CustodianSettings(**overrides)
    serve(create_custodian_app(settings), settings.host, settings.port)


def serve_verifier(**overrides: Any) -> None:
    """Run a verifier (settings from ``DARKPOOL_VERIFIER_*`` and ``overrides``) until SIGTERM, then drain."""
    from darkpool.verifier import create_verifier_app
    from darkpool.web.settings import VerifierSettings

    settings = VerifierSettings(**overrides)
    serve(create_verifier_app(settings), settings.host, settings.port)


class ServerThread:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI, port: int | None = None, *, sock: socket.socket | None = None) -> None:
        """Serve on ``sock`` (from :func:`reserve_port`), else on ``port``, else on a port reserved now."""
        # A port probed free and bound later can be taken in between (by another process's server, or as
        # the local port of an outgoing connection): without a port, one is reserved now and kept.
        self._socket = reserve_port() if sock is None and port is None else sock
        if self._socket is not None:
            port = int(self._socket.getsockname()[1])
        assert port is not None
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        sockets = None if self._socket is None else [self._socket]
        self.thread = threading.Thread(target=lambda: self.server.run(sockets=sockets), name=f"uvicorn-{self.port}",
                                       daemon=True)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise StorageError(f"server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        if self._socket is not None:
            self._socket.close()
