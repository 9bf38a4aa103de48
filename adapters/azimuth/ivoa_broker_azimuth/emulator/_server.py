"""Serves an :class:`AzimuthEmulator` with uvicorn on loopback, in a thread."""

from __future__ import annotations

import uvicorn

from ivoa_broker.testing.serving import QUIET, ServerThread

from ._app import AzimuthEmulator

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """``url`` is the portal's base URL (``http://127.0.0.1:PORT``), the adapter's ``url``.
    The port is chosen by the kernel."""

    def __init__(self, emulator: AzimuthEmulator | None = None, host: str = "127.0.0.1") -> None:
        self.emulator = emulator or AzimuthEmulator()
        self.host = host
        self._thread = ServerThread("azimuth-emulator")

    @property
    def url(self) -> str:
        if not self._thread.sockets:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._thread.sockets[0].getsockname()[1]}"

    def start(self) -> str:
        sock = self._thread.bind(self.host)
        self._thread.start([(uvicorn.Server(uvicorn.Config(self.emulator.app, **QUIET)), sock)])
        return self.url

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
