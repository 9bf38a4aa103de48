"""ASGI apps served by uvicorn on loopback, in a thread of their own: for emulators and fakes.

An emulator (skaha, Kubernetes, Azimuth, ...) runs beside the code under test, which is
often synchronous (a platform's official client, ``kubectl``, a test body). :class:`ServerThread`
binds the sockets first (port 0: the kernel chooses, so two runs never collide), then runs
one or more ``uvicorn.Server`` on them in a daemon thread with its own event loop, and
returns once every server has started (or raises if the thread died first). ``stop()``
asks them to exit, joins the thread and closes the sockets.

    thread = ServerThread("my-emulator")
    sock = thread.bind("127.0.0.1")
    thread.start([(uvicorn.Server(uvicorn.Config(app, **QUIET)), sock)])
    ...
    thread.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn

__all__ = ["QUIET", "ServerThread"]

#: uvicorn settings for a server in a test: no access log, no websockets, lifespan run
QUIET: dict[str, Any] = {
    "log_level": "warning",
    "lifespan": "on",
    "ws": "none",
    "access_log": False,
}

#: seconds a server may take to start (a hang guard: a healthy one takes milliseconds)
_START_LIMIT = 60.0
#: seconds between two looks at ``server.started`` (uvicorn offers no event to wait on)
_LOOK = 0.01


class ServerThread:
    """uvicorn servers on bound sockets, in one daemon thread named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sockets: list[socket.socket] = []
        self.servers: list[uvicorn.Server] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        #: what ended the thread, if it ended by an exception
        self.failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def bind(self, host: str, port: int = 0) -> socket.socket:
        """A TCP socket bound to ``host:port`` (0: a free port), closed by :meth:`stop`."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.sockets.append(sock)
        return sock

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, pairs: Sequence[tuple[uvicorn.Server, socket.socket]]) -> None:
        """Serve each server on its socket; return once all have started."""
        self.servers = [server for server, _ in pairs]

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in pairs))

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # uvicorn exits (SystemExit) when start-up fails
                self.failure = exc

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_LIMIT
        while not all(server.started for server in self.servers):
            if not self._thread.is_alive():
                raise RuntimeError(f"the {self.name} server did not start ({self.failure!r})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} server did not start in {_START_LIMIT} s")
            time.sleep(_LOOK)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the servers' event loop (no-op once it has ended)."""
        loop = self.loop
        if loop is not None and self.alive:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every server to exit, wait for the thread, close the sockets."""
        for server in self.servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        for sock in self.sockets:
            sock.close()
