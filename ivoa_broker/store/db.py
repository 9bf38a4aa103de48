"""The seam between the store's SQL and a database engine.

The job and offer queries are written once, with ``?`` placeholders and plain SQL
that SQLite and PostgreSQL both speak; a :class:`Dialect` supplies the few pieces
that differ, and a :class:`Database` runs statements: reads on a path that does not
queue behind writes, single writes, and transactions. :mod:`.sqlite` and
:mod:`.postgres` implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

Row = Sequence[Any]
Args = Sequence[Any]


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines, as SQL fragments."""

    name: str
    #: turn a ``?`` statement into the driver's paramstyle
    placeholders: Callable[[str], str]
    #: a JSON array text of ``[result_id, mime_type, size, href]`` for ``jobs.job_id``
    results_json: str
    #: appended to a SELECT inside a transaction that will update the rows it read
    for_update: str
    #: type of integer columns that may exceed 2**31 (result sizes)
    bigint: str = "INTEGER"


class Tx(Protocol):
    """Statements inside one transaction."""

    async def rows(self, sql: str, args: Args = ()) -> list[Row]: ...

    async def execute(self, sql: str, args: Args = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, args: Iterable[Args]) -> None: ...


class Database(ABC):
    """One engine behind the store."""

    dialect: Dialect
    #: where the data lives, safe to show (no password)
    where: str

    @abstractmethod
    async def rows(self, sql: str, args: Args = ()) -> list[Row]:
        """A read; never waits behind a write transaction."""

    async def row(self, sql: str, args: Args = ()) -> Row | None:
        found = await self.rows(sql, args)
        return found[0] if found else None

    @abstractmethod
    async def execute(self, sql: str, args: Args = ()) -> int:
        """One write statement committed on its own; rows changed."""

    @abstractmethod
    async def returning(self, sql: str, args: Args = ()) -> list[Row]:
        """One write statement with a RETURNING clause, committed on its own."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """Several statements committed together (rolled back on any exception).
        The migration lock is held: no other writer runs meanwhile on SQLite; on
        PostgreSQL rows read ``FOR UPDATE`` are locked until the end."""

    @abstractmethod
    def migrating(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction that holds the schema lock (one migrator at a time)."""

    @abstractmethod
    async def writable(self) -> bool:
        """True if a write could start now (readiness probes)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def listening(self) -> None:
        """Return once :meth:`changes` hears every later change."""
        return None

    def changes(self) -> AsyncIterator[str] | None:
        """Changes made by other processes, ``"w:<id>"`` (wakes waiters) or
        ``"c:<id>"`` (stales caches only) for job and offer ids, ``"*"`` for
        "maybe missed some" (``None``: this engine serves one process)."""
        return None


def redacted(url: str) -> str:
    """The URL without its password (safe for logs and error documents)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
