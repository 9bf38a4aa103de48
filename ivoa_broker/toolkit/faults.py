"""Fault injection for platform emulators (Starlette apps inside adapter packages).

One design for every emulator (CANFAR's skaha, Azimuth, BinderHub): tests queue
faults on a :class:`Faults` (from any thread), the emulator takes the next matching
one per call (:meth:`Faults.take`) and answers it with :func:`injected` (or its own
status body), before doing anything else; :class:`Dropped` is an answer that breaks
off half-way (the client sees a broken connection).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["GARBAGE_BODY", "Dropped", "Fault", "Faults", "injected"]

#: What ``garbage`` answers by default: neither JSON nor text a client could use.
GARBAGE_BODY = b"\x00<html><body>Proxy says: \xff{not json</body></html>"


@dataclass
class Fault:
    kind: str  # "status" | "garbage" | "slow" | "drop"
    count: int
    status: int = 500
    body: str | None = None
    seconds: float = 0.0
    method: str | None = None
    path: str | None = None
    prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
            and (self.prefix is None or path.startswith(self.prefix))
        )


class Faults:
    """Fault injection, safe to drive from another thread than the server's.

    Each fault applies to the next ``count`` matching calls the emulator routes
    through :meth:`take` (``method``; ``path``, the exact URL path such as
    ``/skaha/v1/session``; ``prefix``, a path prefix): ``fail_next`` answers with an
    HTTP error without doing anything; ``garbage_next`` answers 200 with a body that
    does not parse, without doing anything; ``drop_next`` starts an
    answer and closes the connection half-way (the client sees a broken
    connection); ``slow_next`` waits ``seconds`` before handling the call
    normally (so a client that gave up may still have changed something).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def fail_next(
        self,
        status: int = 500,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
        body: str | None = None,
    ) -> None:
        self._add(
            Fault(
                "status", count, status=status, body=body, method=method, path=path, prefix=prefix
            )
        )

    def garbage_next(
        self,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(Fault("garbage", count, method=method, path=path, prefix=prefix))

    def drop_next(
        self,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(Fault("drop", count, method=method, path=path, prefix=prefix))

    def slow_next(
        self,
        seconds: float,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(Fault("slow", count, seconds=seconds, method=method, path=path, prefix=prefix))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.count for f in self._queue)

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queue.remove(fault)
                    return fault
        return None


class Dropped(Response):
    """Starts a response it never finishes (``body``, then the server closes the
    connection): the client sees a broken connection half-way through an answer."""

    def __init__(self, body: bytes = b"partial", media_type: str = "text/plain") -> None:
        super().__init__(status_code=200)
        self.partial = body
        self.partial_type = media_type

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"1000"),
                    (b"content-type", self.partial_type.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.partial, "more_body": True})
        raise ConnectionAbortedError("emulated dropped connection")


async def injected(
    fault: Fault,
    request: Request,
    status: Callable[[Fault], Response],
    *,
    garbage: bytes = GARBAGE_BODY,
) -> Response | None:
    """The answer to ``fault`` (``status`` builds the error answer in the emulated
    platform's own format), or ``None`` once a ``slow`` fault has waited (then the
    call goes on normally)."""
    if fault.kind == "status":
        return status(fault)
    if fault.kind == "drop":
        return Dropped()
    if fault.kind == "garbage":
        return Response(garbage, 200, media_type="application/json")
    await request.body()  # a server reads the request before it dawdles
    await asyncio.sleep(fault.seconds)
    return None
