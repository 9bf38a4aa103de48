"""A loopback TCP proxy in front of sshd that can misbehave on demand.

The SSH adapter's fault tests connect through it. ``break_all()`` resets the
live connections (so the adapter must reconnect); ``next_mode`` decides what
the next new connection meets:

* ``"refuse"``  - closed at once (connection refused/reset);
* ``"stall"``   - accepted, never answered (a hung network);
* ``"garbage"`` - a banner that is not SSH;
* ``"auth"``    - forwarded to a second sshd that trusts no key.

``stall_all()`` makes the live connections swallow data silently.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["refuse", "stall", "garbage", "auth"]
GARBAGE = b"\x00\xffthis is not ssh\r\nSSH-0.1-garbage\r\n"


@dataclass(eq=False)
class _Pair:
    downstream: asyncio.Transport
    upstream: asyncio.Transport | None = None
    stalled: bool = False
    pending: list[bytes] = field(default_factory=list)

    def abort(self) -> None:
        self.downstream.abort()
        if self.upstream is not None:
            self.upstream.abort()


class _Upstream(asyncio.Protocol):
    def __init__(self, pair: _Pair) -> None:
        self.pair = pair

    def data_received(self, data: bytes) -> None:
        if not self.pair.stalled:
            self.pair.downstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.downstream.close()


class _Downstream(asyncio.Protocol):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.pair: _Pair | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        mode, self.proxy.next_mode = self.proxy.next_mode, None
        self.pair = _Pair(transport, stalled=mode == "stall")
        self.proxy.pairs.add(self.pair)
        if mode == "refuse":
            transport.abort()
        elif mode == "garbage":
            transport.write(GARBAGE)
            transport.close()
        elif mode != "stall":
            port = self.proxy.auth_port if mode == "auth" else self.proxy.target_port
            task = asyncio.get_running_loop().create_task(self._connect(port))
            self.proxy.tasks.add(task)
            task.add_done_callback(self.proxy.tasks.discard)

    async def _connect(self, port: int) -> None:
        assert self.pair is not None
        pair = self.pair
        try:
            upstream, _ = await asyncio.get_running_loop().create_connection(
                lambda: _Upstream(pair), "127.0.0.1", port
            )
        except OSError:
            pair.downstream.abort()
            return
        assert isinstance(upstream, asyncio.Transport)
        pair.upstream = upstream
        for chunk in pair.pending:
            upstream.write(chunk)
        pair.pending.clear()
        if pair.downstream.is_closing():
            upstream.close()

    def data_received(self, data: bytes) -> None:
        pair = self.pair
        if pair is None or pair.stalled:
            return
        if pair.upstream is None:
            pair.pending.append(data)
        else:
            pair.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pair is not None:
            self.proxy.pairs.discard(self.pair)
            if self.pair.upstream is not None:
                self.pair.upstream.close()


class FaultProxy:
    def __init__(self, target_port: int, auth_port: int) -> None:
        self.target_port = target_port
        self.auth_port = auth_port
        self.next_mode: Mode | None = None
        self.pairs: set[_Pair] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Downstream(self), "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def break_all(self) -> None:
        for pair in list(self.pairs):
            pair.abort()

    def stall_all(self) -> None:
        for pair in self.pairs:
            pair.stalled = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.break_all()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
