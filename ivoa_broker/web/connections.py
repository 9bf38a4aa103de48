"""Limits on connections that are idle or slow, for uvicorn's h11 protocol.

uvicorn bounds the wait *between* requests on a kept-alive connection
(``timeout_keep_alive``) but not the wait for a request's head: a client that opens a
connection and sends nothing, or sends its request line and headers a byte at a time
(slowloris), holds the connection for ever. :class:`BoundedH11Protocol` gives every
request head ``head_timeout`` seconds from the first byte (or from the connection's
start) and closes the connection when it runs out. A body that stops arriving is the
app's business: :class:`ivoa_broker.web.framing.EdgeLimits` answers 408 when the
next body chunk takes longer than ``server.timeout_body``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEAD_TIMEOUT = 10.0


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    head_timeout: float = DEFAULT_HEAD_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._arm()
        super().data_received(data)
        if not self._between_requests():  # a whole head arrived: the app has the request
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._between_requests() and not self.transport.is_closing():
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.info(
                "%sno complete request head within %g s: connection closed",
                prefix,
                self.head_timeout,
            )
            if self.conn.our_state is not h11.ERROR:
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def bounded_protocol(head_timeout: float) -> type[BoundedH11Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"head_timeout": head_timeout})
