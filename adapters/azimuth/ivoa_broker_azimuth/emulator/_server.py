"""Serves an :class:`AzimuthEmulator` with uvicorn on loopback, in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn

from ._app import AzimuthEmulator

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """``url`` is the portal's base URL (``http://127.0.0.1:PORT``), the adapter's ``url``.
    The port is chosen by the kernel."""

    def __init__(self, emulator: AzimuthEmulator | None = None, host: str = "127.0.0.1") -> None:
        self.emulator = emulator or AzimuthEmulator()
        self.host = host
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._sock.getsockname()[1]}"

    def start(self) -> str:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, 0))
        config = uvicorn.Config(
            self.emulator.app, log_level="warning", lifespan="on", ws="none", access_log=False
        )
        self._server = uvicorn.Server(config)
        sock, server = self._sock, self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="azimuth-emulator",
            daemon=True,
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the Azimuth emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
