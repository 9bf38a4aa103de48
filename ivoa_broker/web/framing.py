"""The HTTP edge: ambiguous framing refused, a stalled request body timed out.

A request with both ``Content-Length`` and ``Transfer-Encoding`` (or two different
lengths) can be read one way by a proxy in front and another way here: the classic
request-smuggling set-up. RFC 9112 section 6.1 lets a server answer 400 and close the
connection, which this middleware does. h11 itself refuses conflicting
``Content-Length`` values and any coding but ``chunked``; it lets ``Content-Length``
and ``Transfer-Encoding: chunked`` together pass (chunked wins), hence this check.

A request body whose next chunk does not arrive within ``body_timeout`` seconds ends
the request with 408 (:class:`~ivoa_broker.errors.RequestTimeout`, raised from
``receive`` inside the route, so each API answers in its own error format). Once the
body is complete ``receive`` is left alone: a long-poll waiting for the client to go
away must not time out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivoa_broker.errors import RequestTimeout

DEFAULT_BODY_TIMEOUT = 30.0


_FRAMING = (b"content-length", b"transfer-encoding")


def ambiguous(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why this header list frames its body ambiguously, or None."""
    framing = [(k.lower(), v) for k, v in headers if k.lower() in _FRAMING]
    if len(framing) < 2:  # nearly every request: one framing header at most
        return None
    lengths = {v.strip() for k, v in framing if k == b"content-length"}
    codings = [v for k, v in framing if k == b"transfer-encoding"]
    if lengths and codings:
        return "both Content-Length and Transfer-Encoding are given; send one"
    if len(lengths) > 1:
        return "conflicting Content-Length headers"
    if len(codings) > 1:
        return "more than one Transfer-Encoding header"
    return None


class EdgeLimits:
    """ASGI middleware: 400 with ``Connection: close`` for ambiguous framing; 408 for a
    body that stalls."""

    def __init__(self, app: ASGIApp, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = ambiguous(scope.get("headers", ()))
        if problem is not None:
            await _refuse(send, problem)
            return
        await self.app(scope, self._timed(receive), send)

    def _timed(self, receive: Receive) -> Receive:
        body_done = False

        async def timed() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body stalled for more than {self.body_timeout:g} s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        return timed


async def _refuse(send: Send, problem: str) -> None:
    body = f"{problem}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
