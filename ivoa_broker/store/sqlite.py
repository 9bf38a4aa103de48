"""SQLite (aiosqlite, WAL): the embedded default, for one broker process.

One writer connection (writes serialised by a lock, a transaction is ``BEGIN
IMMEDIATE``) and one reader connection with ``query_only``: in WAL mode a reader
sees the last committed state and never waits behind a write transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiosqlite

from ivoa_broker.store.db import Args, Database, Dialect, Row, Tx
from ivoa_broker.store.rows import StoreError

SQLITE = Dialect(
    name="sqlite",
    placeholders=lambda sql: sql,
    results_json=(
        "(SELECT json_group_array(json_array(result_id, mime_type, size, href)) FROM "
        "(SELECT result_id, mime_type, size, href FROM results r WHERE r.job_id = jobs.job_id "
        "ORDER BY seq))"
    ),
    for_update="",
)


async def _changed(db: aiosqlite.Connection, sql: str, args: Args) -> int:
    """Run a write in one hop to the database thread; the rows it changed.

    The cursor is not closed with a second hop: a write statement has run to its
    end when ``execute`` returns (the sqlite3 module resets it then), so the
    cursor holds no lock and nothing a later statement could see; it is freed
    with the object.
    """
    cur = await db.execute(sql, args)
    return int(cur.rowcount)


class _SqliteTx:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def rows(self, sql: str, args: Args = ()) -> list[Row]:
        return list(await self._db.execute_fetchall(sql, args))

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await _changed(self._db, sql, args)

    async def executemany(self, sql: str, args: Iterable[Args]) -> None:
        await self._db.executemany(sql, args)


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self.where = str(path)
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await aiosqlite.connect(path, isolation_level=None)
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=5000")
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open job store {path}: {exc}") from exc
        return cls(path, writer, reader)

    async def rows(self, sql: str, args: Args = ()) -> list[Row]:
        """One read in one hop to the database thread (execute + fetch + close)."""
        return list(await self._reader.execute_fetchall(sql, args))

    async def execute(self, sql: str, args: Args = ()) -> int:
        async with self._lock:
            return await _changed(self._writer, sql, args)

    async def returning(self, sql: str, args: Args = ()) -> list[Row]:
        async with self._lock:
            return list(await self._writer.execute_fetchall(sql, args))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    def migrating(self) -> AbstractAsyncContextManager[Tx]:
        # BEGIN IMMEDIATE takes SQLite's write lock: one migrator at a time, and
        # the broker's own lock file (storelock) already keeps out a second server
        return self.transaction()

    async def writable(self) -> bool:
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                await self._writer.execute("ROLLBACK")
                return True
            except (sqlite3.Error, ValueError):
                return False

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()
