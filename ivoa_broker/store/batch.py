"""Concurrent reads of single records, gathered into one query.

A read of one record from the database costs a hop to the database's thread
(or a round trip to the server) that is far dearer than the read itself. When
many requests miss the record cache at once, :class:`GatheredReads` sends the
keys asked for while a query is in flight together in the next one: under load
one hop serves many requests; an idle broker's single read goes out at once.

Coherence is the fetch function's: it is called when its query starts, so a
cache token it takes then was taken before the read, as a single read's is. A
key asked for after a query started is never answered by that query (it waits
for the next, which starts after), so a read that follows a completed write
always sees the write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from itertools import islice
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GatheredReads(Generic[K, V]):
    """``await get(key)`` reads one record; the keys asked for while a query is in
    flight go together (at most ``most`` per query) in the next.

    ``fetch(keys)`` returns the records it found by key; a key it leaves out is
    answered ``None``. If it raises, every read in its query raises the same
    error; the reads waiting for the next query are not affected. A read whose
    caller is cancelled is dropped; the query goes on for the others.
    """

    def __init__(
        self, fetch: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]], most: int = 64
    ) -> None:
        if most < 1:
            raise ValueError("a query reads at least one key")
        self._fetch = fetch
        self.most = most
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(answer)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush(), name="gathered-reads")
        return await answer

    @property
    def waiting(self) -> int:
        """Keys waiting for a query that has not started."""
        return len(self._waiting)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                keys = list(islice(self._waiting, self.most))
                asked = {key: self._waiting.pop(key) for key in keys}
                try:
                    found = await self._fetch(keys)
                except Exception as exc:
                    for answers in asked.values():
                        for answer in answers:
                            if not answer.done():
                                answer.set_exception(exc)
                    continue
                except BaseException:
                    _cancel(asked)
                    raise
                for key, answers in asked.items():
                    record = found.get(key)
                    for answer in answers:
                        if not answer.done():
                            answer.set_result(record)
        finally:
            self._flusher = None
            _cancel(self._waiting)  # only left if this task itself was cancelled
            self._waiting.clear()


def _cancel(asked: Mapping[K, list[asyncio.Future[V | None]]]) -> None:
    for answers in asked.values():
        for answer in answers:
            answer.cancel()
