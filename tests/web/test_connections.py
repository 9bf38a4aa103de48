"""The connection limits of ivoa_broker.web.connections, on both protocols, in process:
each protocol class is fed bytes through a stand-in transport, as uvicorn's own tests do
(the real sockets are tests/probe/test_connections.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from ivoa_broker.web import connections
from ivoa_broker.web.connections import HttpKind, bounded_protocol, chosen_http

KINDS: list[HttpKind] = ["h11", "httptools"]
LIMIT = 1024


class Transport:
    """What the protocols use of an asyncio transport; records what they write."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def get_extra_info(self, key: str) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 8001)}.get(key)

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: object) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = f"ok {size}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def connect(kind: HttpKind, head_timeout: float = 30.0, asgi: Any = None) -> tuple[Any, Transport]:
    config = Config(
        asgi or app, log_config=None, h11_max_incomplete_event_size=LIMIT, timeout_keep_alive=1
    )
    cls = bounded_protocol(head_timeout, LIMIT, kind)
    protocol: Any = cls(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def settled(transport: Transport, want: bytes = b"ok", limit: float = 10.0) -> bytes:
    """What was written once it contains ``want`` or the connection closed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while want not in transport.written and not transport.closed:
        assert loop.time() < deadline, transport.written
        await asyncio.sleep(0.005)
    return transport.written


def head(extra: int = 0, method: str = "GET", headers: str = "") -> bytes:
    start = f"{method} /jobs HTTP/1.1\r\nHost: x\r\n{headers}".encode()
    padding = b"X-Pad: " + b"p" * extra + b"\r\n" if extra else b""
    return start + padding + b"\r\n"


def test_auto_is_httptools_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert chosen_http("auto") == "httptools"
    assert chosen_http("h11") == "h11"
    assert chosen_http("httptools") == "httptools"
    monkeypatch.setattr(connections, "httptools_available", lambda: False)
    assert chosen_http("auto") == "h11"
    with pytest.raises(RuntimeError, match="not installed"):
        chosen_http("httptools")


def test_the_class_carries_the_limits() -> None:
    for kind, name in (("h11", "BoundedH11Protocol"), ("httptools", "BoundedHttpToolsProtocol")):
        cls: Any = bounded_protocol(3.5, 2048, kind)  # type: ignore[arg-type]
        assert cls.__name__ == name
        assert (cls.head_timeout, cls.max_head_bytes) == (3.5, 2048)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_head_within_the_limit_is_served(kind: HttpKind) -> None:
    protocol, transport = connect(kind)
    request = head(LIMIT - 100)
    assert len(request) < LIMIT
    protocol.data_received(request)
    written = await settled(transport)
    assert written.startswith(b"HTTP/1.1 200"), written
    assert not transport.closed


@pytest.mark.parametrize("kind", KINDS)
async def test_a_head_past_the_limit_gets_431(kind: HttpKind) -> None:
    protocol, transport = connect(kind)
    protocol.data_received(head(LIMIT + 10))
    written = await settled(transport)
    assert written.startswith(b"HTTP/1.1 431"), written
    assert b"larger than 1024 bytes" in written
    assert transport.closed


@pytest.mark.parametrize("kind", KINDS)
async def test_a_large_head_sent_in_pieces_gets_431(kind: HttpKind) -> None:
    protocol, transport = connect(kind)
    request = head(4 * LIMIT)
    for at in range(0, len(request), 100):
        if transport.closed:
            break
        protocol.data_received(request[at : at + 100])
    written = await settled(transport)
    assert written.startswith(b"HTTP/1.1 431"), written
    assert transport.closed


@pytest.mark.parametrize("kind", KINDS)
async def test_a_body_larger_than_the_head_limit_is_not_counted(kind: HttpKind) -> None:
    protocol, transport = connect(kind)
    body = b"b" * (8 * LIMIT)
    protocol.data_received(head(method="POST", headers=f"Content-Length: {len(body)}\r\n") + body)
    written = await settled(transport, b"ok 8192")
    assert written.startswith(b"HTTP/1.1 200"), written


@pytest.mark.parametrize("kind", KINDS)
async def test_each_kept_alive_request_gets_its_own_head_limit(kind: HttpKind) -> None:
    protocol, transport = connect(kind)
    for n in range(3):
        transport.written = b""
        protocol.data_received(head(LIMIT - 100))
        written = await settled(transport)
        assert written.startswith(b"HTTP/1.1 200"), (n, written)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_head_not_complete_in_time_closes_the_connection(kind: HttpKind) -> None:
    protocol, transport = connect(kind, head_timeout=0.1)
    protocol.data_received(b"GET /jobs HTTP/1.1\r\nHost: x\r\n")
    await settled(transport, b"never")
    assert transport.closed
    assert transport.written == b""


@pytest.mark.parametrize("kind", KINDS)
async def test_a_silent_connection_is_closed_at_the_head_deadline(kind: HttpKind) -> None:
    _, transport = connect(kind, head_timeout=0.1)
    await settled(transport, b"never")
    assert transport.closed


@pytest.mark.parametrize("kind", KINDS)
async def test_a_complete_head_stops_the_deadline(kind: HttpKind) -> None:
    """A request whose body is still coming is not cut by the head deadline (the body
    has its own, in the app)."""
    protocol, transport = connect(kind, head_timeout=0.1)
    protocol.data_received(head(method="POST", headers="Content-Length: 10\r\n"))
    await asyncio.sleep(0.4)
    assert not transport.closed
    protocol.data_received(b"0123456789")
    written = await settled(transport, b"ok 10")
    assert written.startswith(b"HTTP/1.1 200"), written


async def test_httptools_names_the_framing_it_refuses() -> None:
    protocol, transport = connect("httptools")
    protocol.data_received(
        head(method="POST", headers="Content-Length: 4\r\nTransfer-Encoding: chunked\r\n")
        + b"0\r\n\r\n"
    )
    written = await settled(transport)
    assert written.startswith(b"HTTP/1.1 400"), written
    assert b"Transfer-Encoding" in written
    assert transport.closed


async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await asyncio.sleep(0.4)  # a long answer (a WAIT)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok slow"})


@pytest.mark.parametrize("kind", KINDS)
async def test_a_late_pipelined_head_does_not_cut_the_answer_in_progress(kind: HttpKind) -> None:
    protocol, transport = connect(kind, head_timeout=0.1, asgi=slow_app)
    protocol.data_received(head() + b"GET /next HTTP/1.1\r\nHo")
    written = await settled(transport, b"ok slow")
    assert written.startswith(b"HTTP/1.1 200"), written
    await settled(transport, b"never")  # then the late head's deadline closes it
    assert transport.closed


@dataclass
class Timer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The two loop methods a HeadDeadline uses, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []  # every timer made so far

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, to: float) -> None:
        """Fire, in order, every timer due by ``to``."""
        while True:
            due = [t for t in self.timers if not (t.cancelled or t.fired) and t.when <= to]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            timer.fired = True
            self.now = timer.when
            timer.callback()
        self.now = to


def test_a_deadline_makes_one_timer_for_many_heads_and_keeps_each_heads_full_time() -> None:
    clock = Clock()
    expired: list[float] = []
    deadline = connections.HeadDeadline(clock, 10.0, lambda: expired.append(clock.now))  # type: ignore[arg-type]
    for i in range(1000):  # a busy kept-alive connection: a head every millisecond
        clock.now = i / 1000
        deadline.arm()
        deadline.disarm()
    assert len(clock.timers) == 1
    clock.now = 9.0
    deadline.arm()  # a head begins at 9 s and never ends: due at 19 s, not at 10 s
    clock.advance(18.9)
    assert expired == [] and deadline.armed
    clock.advance(19.5)
    assert expired == [19.0] and not deadline.armed
    assert len(clock.timers) == 2  # the first timer waited out the rest of the head's time


def test_a_stopped_deadline_never_fires() -> None:
    clock = Clock()
    expired: list[float] = []
    deadline = connections.HeadDeadline(clock, 1.0, lambda: expired.append(clock.now))  # type: ignore[arg-type]
    deadline.arm()
    deadline.stop()
    clock.advance(5.0)
    assert expired == [] and not deadline.armed
    deadline.disarm()
    clock.advance(10.0)
    assert expired == []
