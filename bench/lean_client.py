"""A lean HTTP/1.1 client for the bench's job rows (asyncio streams).

httpx spends about 4.5 s of CPU on the 200-at-once row (200 POSTs and some 600
WAIT GETs over 200 connections) on a 2-core machine, more than the broker and
its jobs together, so the row measured the client. This one speaks just what
the rows need (one keep-alive connection per job, ``Content-Length`` bodies, a
``Location`` header) and costs tens of microseconds a request; it refuses
anything else loudly rather than misread it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode, urlsplit


class LeanConnection:
    """One keep-alive connection to ``http://host:port``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, base_url: str) -> LeanConnection:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None, base_url
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    async def request(
        self, method: str, target: str,
        form: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request and its whole answer: status, headers (lower-case names), body."""
        body = urlencode(form, doseq=True).encode() if form is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        if form is not None:
            head += ("Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n")
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise ValueError(f"lean client: no chunked bodies ({method} {target})")
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, content

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def path_of(location: str) -> str:
    """The request target of an absolute or relative ``Location``."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
