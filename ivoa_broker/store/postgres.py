"""PostgreSQL (asyncpg, a connection pool): the store for several broker replicas.

The same SQL as SQLite (``?`` placeholders become ``$n``). Reads and single writes
take any pooled connection; a transaction holds one. Migrations hold a
transaction-scoped advisory lock, so replicas starting together migrate once.
:meth:`PostgresDatabase.changes` is a dedicated connection that ``LISTEN``\\ s on the
channel the triggers of migration 3 notify: every replica hears every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from ivoa_broker.store.db import Args, Database, Dialect, Row, Tx, redacted
from ivoa_broker.store.migrations import CHANNEL
from ivoa_broker.store.rows import StoreError

log = logging.getLogger(__name__)

#: seconds start-up keeps trying to reach a database that refuses connections
CONNECT_PATIENCE = 30.0
#: pg_advisory_xact_lock key of the schema lock ("ivoa" in ASCII)
MIGRATION_LOCK = 0x69766F61


@lru_cache(maxsize=512)
def dollar_placeholders(sql: str) -> str:
    """``?`` -> ``$1, $2, ...`` (the store's SQL has no ``?`` inside literals)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


POSTGRES = Dialect(
    name="postgresql",
    placeholders=dollar_placeholders,
    results_json=(
        "(SELECT coalesce(json_agg(json_build_array(result_id, mime_type, size, href) "
        "ORDER BY seq), '[]'::json)::text FROM results r WHERE r.job_id = jobs.job_id)"
    ),
    for_update=" FOR UPDATE",
    bigint="BIGINT",
)


def _count(status: str) -> int:
    """Rows changed, from a command tag such as ``UPDATE 1`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _q(sql: str, args: Args) -> tuple[str, tuple[Any, ...]]:
    return (dollar_placeholders(sql), tuple(args)) if args else (sql, ())


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, args: Args = ()) -> list[Row]:
        query, values = _q(sql, args)
        return list(await self._conn.fetch(query, *values))

    async def execute(self, sql: str, args: Args = ()) -> int:
        query, values = _q(sql, args)
        return _count(await self._conn.execute(query, *values))

    async def executemany(self, sql: str, args: Iterable[Args]) -> None:
        batch = [tuple(a) for a in args]
        if batch:
            await self._conn.executemany(dollar_placeholders(sql), batch)


class PostgresDatabase(Database):
    dialect = POSTGRES

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self._url = url
        self.where = redacted(url)
        self._pool = pool
        self._listening = asyncio.Event()
        #: server pids of this process's pooled connections: their changes are heard
        #: here already (the store's own code drops the cache and wakes waiters)
        self.own_pids: set[int] = set()

    @classmethod
    async def open(cls, url: str, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        own: set[int] = set()

        async def note(conn: asyncpg.Connection) -> None:
            own.add(conn.get_server_pid())

        loop = asyncio.get_running_loop()
        pause, deadline = 0.2, loop.time() + CONNECT_PATIENCE
        while True:
            try:
                pool = await asyncpg.create_pool(
                    url, min_size=min_size, max_size=max_size, init=note
                )
                break
            except OSError as exc:  # not up yet (replicas and database starting together)
                if loop.time() + pause > deadline:
                    raise StoreError(f"cannot open job store {redacted(url)}: {exc}") from exc
                log.warning("job store %s not reachable (%s); trying again", redacted(url), exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise StoreError(f"cannot open job store {redacted(url)}: {exc}") from exc
        db = cls(url, pool)
        db.own_pids = own
        return db

    async def rows(self, sql: str, args: Args = ()) -> list[Row]:
        query, values = _q(sql, args)
        return list(await self._pool.fetch(query, *values))

    async def execute(self, sql: str, args: Args = ()) -> int:
        query, values = _q(sql, args)
        return _count(await self._pool.execute(query, *values))

    async def returning(self, sql: str, args: Args = ()) -> list[Row]:
        return await self.rows(sql, args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgTx(conn)

    @asynccontextmanager
    async def migrating(self) -> AsyncIterator[Tx]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            yield _PgTx(conn)

    async def writable(self) -> bool:
        try:
            return bool(await self._pool.fetchval("SELECT NOT pg_is_in_recovery()"))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def close(self) -> None:
        await self._pool.close()

    async def listening(self) -> None:
        await self._listening.wait()

    def changes(self) -> AsyncIterator[str]:
        return self._listen()

    async def _listen(self) -> AsyncIterator[str]:
        """Payloads from ``NOTIFY`` by other processes (``w:<id>``: wakes waiters,
        ``c:<id>``: stales the cache only); ``"*"`` after the listening connection
        was remade, since changes may have been missed while it was away."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        pause = 0.2
        first = True
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._url)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("change listener cannot connect to %s: %s", self.where, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.2
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())

            def heard(_c: object, pid: int, _ch: str, payload: str) -> None:
                if pid not in self.own_pids:
                    queue.put_nowait(payload)

            await conn.add_listener(CHANNEL, heard)
            self._listening.set()
            if not first:
                yield "*"
            first = False
            try:
                while not lost.is_set():
                    getter = asyncio.ensure_future(queue.get())
                    waiter = asyncio.ensure_future(lost.wait())
                    done, _ = await asyncio.wait(
                        {getter, waiter}, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    if getter in done:
                        yield getter.result()
                    else:
                        getter.cancel()
                log.warning("change listener lost its connection to %s; reconnecting", self.where)
            finally:
                if not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
