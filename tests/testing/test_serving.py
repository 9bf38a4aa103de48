"""ServerThread: apps on kernel-chosen loopback ports in a thread, started before start()
returns, stopped and closed by stop(); a server that cannot start is an error, not a hang."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ivoa_broker.testing.serving import QUIET, ServerThread


def _app(text: str) -> Starlette:
    return Starlette(routes=[Route("/", lambda _request: PlainTextResponse(text))])


def test_two_servers_serve_on_their_own_ports_until_stopped() -> None:
    thread = ServerThread("two")
    first, second = thread.bind("127.0.0.1"), thread.bind("127.0.0.1")
    thread.start(
        [
            (uvicorn.Server(uvicorn.Config(_app("one"), **QUIET)), first),
            (uvicorn.Server(uvicorn.Config(_app("two"), **QUIET)), second),
        ]
    )
    ports = [sock.getsockname()[1] for sock in (first, second)]
    assert ports[0] != ports[1]
    assert thread.alive and thread.loop is not None
    texts = [httpx.get(f"http://127.0.0.1:{port}/").text for port in ports]
    assert texts == ["one", "two"]
    thread.stop()
    assert not thread.alive
    assert first.fileno() == -1 and second.fileno() == -1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports[0]}/")


def test_a_server_whose_startup_fails_raises_instead_of_waiting() -> None:
    @contextlib.asynccontextmanager
    async def broken_lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    app = Starlette(lifespan=broken_lifespan)
    thread = ServerThread("broken")
    sock = thread.bind("127.0.0.1")
    config = uvicorn.Config(app, **{**QUIET, "log_level": "critical"})
    with pytest.raises(RuntimeError, match="the broken server did not start"):
        thread.start([(uvicorn.Server(config), sock)])
    thread.stop()
