"""Run the services: ``serve_operator``/``serve_custodian`` for the CLI, :class:`ServerThread` for tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from darkpool.errors import StorageError

__all__ = ["ServerThread", "free_port", "serve_custodian", "serve_operator"]


def free_port() -> int:
    """Return a free loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_operator(**overrides: Any) -> None:
    """Run the operator (settings from ``DARKPOOL_*`` and ``overrides``) until interrupted."""
    from darkpool.operator.api.app import create_operator_app
    from darkpool.web.settings import OperatorSettings

    settings = OperatorSettings(**overrides)
    uvicorn.run(create_operator_app(settings), host=settings.host, port=settings.port, log_level="warning")


def serve_custodian(**overrides: Any) -> None:
    """Run the key custodian (settings from ``DARKPOOL_CUSTODIAN_*`` and ``overrides``) until interrupted."""
    from darkpool.custodian.api import create_custodian_app
    from darkpool.web.settings import CustodianSettings

    settings = CustodianSettings(**overrides)
    uvicorn.run(create_custodian_app(settings), host=settings.host, port=settings.port, log_level="warning")


class ServerThread:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

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
