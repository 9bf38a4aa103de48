"""Fault injection, safe to drive from the test thread.

Each fault applies to the next ``count`` calls that match ``method``, a path
``prefix`` and, optionally, watch-ness (``watch=True`` only watches,
``False`` only non-watch calls). Kinds: ``status`` (a ``metav1.Status`` with that
code, ``Retry-After`` for 429/503 when given), ``garbage`` (200 with a body
that is not JSON), ``drop`` (the connection closes half-way), ``slow`` (the
call waits ``seconds`` first), ``gone`` (a watch answers one ``ERROR`` event
with a 410 ``Expired`` Status, what a real server sends for a compacted
resourceVersion).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str
    count: int
    status: int = 500
    message: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    method: str | None = None
    prefix: str | None = None
    watch: bool | None = None

    def matches(self, method: str, path: str, watch: bool) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.prefix is None or path.startswith(self.prefix))
            and (self.watch is None or self.watch == watch)
        )


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def fail_next(
        self,
        status: int = 500,
        *,
        count: int = 1,
        method: str | None = None,
        prefix: str | None = None,
        watch: bool | None = None,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> None:
        self.add(Fault("status", count, status, message, retry_after, 0.0, method, prefix, watch))

    def gone_next(self, *, count: int = 1, prefix: str | None = None) -> None:
        self.add(Fault("gone", count, 410, method="GET", prefix=prefix, watch=True))

    def garbage_next(
        self, *, count: int = 1, method: str | None = None, prefix: str | None = None
    ) -> None:
        self.add(Fault("garbage", count, method=method, prefix=prefix, watch=False))

    def drop_next(
        self, *, count: int = 1, method: str | None = None, prefix: str | None = None
    ) -> None:
        self.add(Fault("drop", count, method=method, prefix=prefix, watch=False))

    def slow_next(
        self,
        seconds: float,
        *,
        count: int = 1,
        method: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self.add(Fault("slow", count, seconds=seconds, method=method, prefix=prefix, watch=False))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def take(self, method: str, path: str, watch: bool) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path, watch):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queue.remove(fault)
                    return fault
        return None
