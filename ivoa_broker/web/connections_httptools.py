"""uvicorn's httptools protocol with the limits of :mod:`ivoa_broker.web.connections`:
a deadline for each request head from its first byte, and 431 for a head larger than
``max_head_bytes`` (httptools has no size limit of its own). Keep-alive between
requests is uvicorn's own (``timeout_keep_alive``). Imported only when httptools is.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ivoa_broker.web.connections import (
    DEFAULT_HEAD_TIMEOUT,
    DEFAULT_MAX_HEAD_BYTES,
    HeadDeadline,
    log_expired,
    log_too_large,
    too_large_response,
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """The same limits as :class:`~ivoa_broker.web.connections.BoundedH11Protocol`.

    A head is due from the connection's start, and again from the end of each
    message: while one is due every read is fed to the parser at most up to the limit
    (what is past it is refused with 431, never buffered); the parser's callbacks say
    when a head begins (the deadline is armed), ends (disarmed, the count reset) and
    when its message ends.
    """

    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = HeadDeadline(self.loop, self.head_timeout, self._head_expired)
        self._head_bytes = 0  # bytes fed to the parser while this head is due
        self._in_body = False  # from a head's end to its message's end

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.stop()
        super().connection_lost(exc)

    # -- parser callbacks (called from inside feed_data) ---------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._deadline.arm()  # a head's first byte (an armed timer keeps running)

    def on_headers_complete(self) -> None:
        self._deadline.disarm()
        self._in_body = True
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    # -- reading -------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        while data:
            if self._in_body:
                chunk, data = data, b""
            else:  # a head is due: never more than its limit into the parser
                room = self.max_head_bytes - self._head_bytes
                if room <= 0:
                    self._refuse_large_head()
                    return
                chunk, data = data[:room], data[room:]
                self._head_bytes += len(chunk)
            if not self._feed(chunk):
                return

    def _feed(self, chunk: bytes) -> bool:
        """The parent's ``data_received`` for one chunk, with the parser's reason in the
        400 (llhttp refuses ambiguous framing itself); False: read no further."""
        try:
            self.parser.feed_data(chunk)
        except httptools.HttpParserError as exc:
            reason = str(exc).encode("ascii", "replace").decode("ascii")
            msg = f"Invalid HTTP request received: {reason}"
            self.logger.warning(msg)
            self.send_400_response(msg)
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    def _refuse_large_head(self) -> None:
        log_too_large(self.logger, self.client, self.max_head_bytes)
        self.transport.write(
            too_large_response(self.server_state.default_headers, self.max_head_bytes)
        )
        self.transport.close()

    def _head_expired(self) -> None:
        if self._in_body or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # a pipelined head is late while the previous answer is still being sent
            # (a long WAIT): that answer is not cut; the head gets another period
            self._deadline.arm()
            return
        log_expired(self.logger, self.client, self.head_timeout)
        self.transport.close()
