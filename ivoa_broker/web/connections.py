"""Limits on connections that are idle, slow or too large, for both of uvicorn's
HTTP/1.1 protocols (the pure-Python h11 one and the C httptools one).

uvicorn bounds the wait *between* requests on a kept-alive connection
(``timeout_keep_alive``) but not the wait for a request's head: a client that opens a
connection and sends nothing, or sends its request line and headers a byte at a time
(slowloris), holds the connection for ever. Both protocol classes here give every
request head ``head_timeout`` seconds from its first byte (or from the connection's
start) and close the connection when it runs out (:class:`HeadDeadline`).

A request head larger than ``max_head_bytes`` is answered ``431 Request Header Fields
Too Large`` and the connection closed. Neither parser is trusted with that: h11's own
limit counts only heads still incomplete, and httptools has none. Both classes feed
their parser at most the limit while a head is due. The count is exact on h11 (its
receive buffer holds the head so far) and on httptools but in one case: a pipelined
head that begins inside the same read as the end of the previous message is counted
from the next read on, so it can pass the limit by at most one read (the event loop
reads at most 256 KiB at a time): memory stays bounded either way.

A body that stops arriving is the app's business: :class:`ivoa_broker.web.framing.EdgeLimits`
answers 408 when the next body chunk takes longer than ``server.timeout_body``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Callable
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEAD_TIMEOUT = 10.0
DEFAULT_MAX_HEAD_BYTES = 16 * 1024

#: the ``server.http`` setting: a protocol, or ``auto`` (httptools when importable)
HttpSetting = Literal["auto", "h11", "httptools"]
HttpKind = Literal["h11", "httptools"]


def httptools_available() -> bool:
    return importlib.util.find_spec("httptools") is not None


def chosen_http(setting: HttpSetting) -> HttpKind:
    """The protocol ``serve`` runs: ``auto`` is httptools when importable, h11 otherwise.
    Raises ``RuntimeError`` when httptools is asked for by name and is not installed."""
    if setting == "h11":
        return "h11"
    if httptools_available():
        return "httptools"
    if setting == "httptools":
        raise RuntimeError(
            'server.http = "httptools" but httptools is not installed '
            '(pip install httptools, or set server.http = "auto" or "h11")'
        )
    return "h11"


class HeadDeadline:
    """One connection's timer for the request head it is waiting for: armed at the
    connection's start and at a head's first byte (an armed deadline is left as it
    is), disarmed when the head is complete; ``expired`` is called when it runs out.

    Arming and disarming only set or clear the due time: the one timer a connection
    has is left running, and when it fires it looks again at the due time (another
    head's, by then) and waits out the rest of it, or stops if no head is due. A
    connection serving many requests so makes a timer every ``timeout`` seconds,
    not one per request. :meth:`stop` (the connection is gone) cancels it.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, expired: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._expired = expired
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._due is not None

    def arm(self) -> None:
        if self._due is None:
            self._due = self._loop.time() + self._timeout
            if self._timer is None:
                self._timer = self._loop.call_later(self._timeout, self._fire)

    def disarm(self) -> None:
        self._due = None

    def stop(self) -> None:
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self._due is None:
            return
        left = self._due - self._loop.time()
        if left > 0:  # a later head's deadline: the rest of it
            self._timer = self._loop.call_later(left, self._fire)
            return
        self._due = None
        self._expired()


def too_large_response(default_headers: list[tuple[bytes, bytes]], limit: int) -> bytes:
    """The whole 431 answer (``Connection: close``) to a head larger than ``limit``."""
    body = f"Request head (request line and headers) larger than {limit} bytes.".encode()
    lines = [b"HTTP/1.1 431 Request Header Fields Too Large"]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: text/plain; charset=utf-8",
        b"content-length: " + str(len(body)).encode("ascii"),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def log_expired(logger: logging.Logger, client: tuple[str, int] | None, timeout: float) -> None:
    prefix = f"{client[0]}:{client[1]} - " if client else ""
    logger.info("%sno complete request head within %g s: connection closed", prefix, timeout)


def log_too_large(logger: logging.Logger, client: tuple[str, int] | None, limit: int) -> None:
    prefix = f"{client[0]}:{client[1]} - " if client else ""
    logger.warning("%srequest head larger than %d bytes: 431, connection closed", prefix, limit)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head and a cap on its
    bytes (431).

    While the client is to send a head (h11's ``IDLE``) every read goes to h11 at most
    up to the limit: h11's receive buffer then holds the head so far, and a head that
    would pass the limit is refused before h11 sees it. (h11's own limit,
    ``max_incomplete_event_size``, only counts heads that are still incomplete: a
    larger head arriving whole in one read would pass it.)"""

    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = HeadDeadline(self.loop, self.head_timeout, self._head_expired)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline.arm()

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._deadline.arm()
        self._unset_keepalive_if_required()
        while data and not self.transport.is_closing():
            if self.conn.their_state is h11.IDLE:  # a head is due
                room = self.max_head_bytes - len(self.conn.trailing_data[0])
                if room <= 0:
                    self._refuse_large_head()
                    return
                chunk, data = data[:room], data[room:]
            else:
                chunk, data = data, b""
            self.conn.receive_data(chunk)
            self.handle_events()
        if not self._between_requests():  # a whole head arrived: the app has the request
            self._deadline.disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.stop()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """h11 refuses a (pipelined) head past its own limit as "Receive buffer too
        long", which uvicorn answers 400: that one is a 431 too."""
        if len(self.conn.trailing_data[0]) > self.max_head_bytes:
            self._refuse_large_head()
        else:
            super().send_400_response(msg)

    def _refuse_large_head(self) -> None:
        log_too_large(self.logger, self.client, self.max_head_bytes)
        self.transport.write(
            too_large_response(self.server_state.default_headers, self.max_head_bytes)
        )
        self.transport.close()

    def _head_expired(self) -> None:
        if self._between_requests() and not self.transport.is_closing():
            log_expired(self.logger, self.client, self.head_timeout)
            if self.conn.our_state is not h11.ERROR:
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def bounded_protocol(
    head_timeout: float,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    kind: HttpKind = "h11",
) -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``, with these limits.
    For h11, give uvicorn ``h11_max_incomplete_event_size=max_head_bytes`` as well
    (h11 enforces the size; the class only answers it with 431)."""
    base: type[asyncio.Protocol]
    if kind == "h11":
        base = BoundedH11Protocol
    else:  # imported only here: it needs httptools
        from ivoa_broker.web.connections_httptools import BoundedHttpToolsProtocol

        base = BoundedHttpToolsProtocol
    limits = {"head_timeout": head_timeout, "max_head_bytes": max_head_bytes}
    return type(base.__name__, (base,), limits)
