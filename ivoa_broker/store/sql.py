""":class:`JobStore`: the job and offer aggregates over one database, opened from a URL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ivoa_broker.store.batch import GatheredReads
from ivoa_broker.store.cache import JobCache, SummaryRows
from ivoa_broker.store.db import Database
from ivoa_broker.store.interface import Store
from ivoa_broker.store.jobs import JobQueries
from ivoa_broker.store.migrations import migrate
from ivoa_broker.store.offers import OfferQueries
from ivoa_broker.store.rows import StoreError

log = logging.getLogger(__name__)


def is_postgres(where: Path | str) -> bool:
    return isinstance(where, str) and where.split(":", 1)[0] in ("postgresql", "postgres")


def sqlite_path(where: Path | str) -> Path:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL, or a path."""
    if isinstance(where, Path):
        return where
    if where.startswith("sqlite:///"):
        return Path(where.removeprefix("sqlite:///"))
    if where.startswith("sqlite://"):
        raise StoreError(f"a SQLite URL names a file: sqlite:///path, not {where!r}")
    return Path(where)


async def open_database(where: Path | str, pool_size: int = 10) -> Database:
    """A :class:`Database` for a path, ``sqlite:///path`` or ``postgresql://...``."""
    if is_postgres(where):
        from ivoa_broker.store.postgres import PostgresDatabase

        return await PostgresDatabase.open(str(where), max_size=pool_size)
    from ivoa_broker.store.sqlite import SqliteDatabase

    return await SqliteDatabase.open(sqlite_path(where))


class JobStore(JobQueries, OfferQueries):
    """Async access to the broker's database. Create with :meth:`open`."""

    def __init__(self, db: Database, cache_size: int = 2048) -> None:
        self.db = db
        self.cache = JobCache(cache_size)
        self.summaries = SummaryRows()
        self.job_reads = GatheredReads(self._read_jobs)
        self.path: Path | str = getattr(db, "path", db.where)
        self._listeners: list[Callable[[str], None]] = []
        self._hearing: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, where: Path | str, cache_size: int = 2048, *, pool_size: int = 10
    ) -> JobStore:
        """Open (and migrate) the store at a path or URL; listens for other
        replicas' changes where the engine can tell."""
        db = await open_database(where, pool_size)
        try:
            await migrate(db)
        except StoreError:
            await db.close()
            raise
        except Exception as exc:
            await db.close()
            raise StoreError(f"cannot migrate the job store {db.where}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        store = cls(db, cache_size)
        if store._listen():
            try:
                await asyncio.wait_for(db.listening(), 10)
            except TimeoutError:
                await store.close()
                raise StoreError(f"cannot listen for changes on {db.where}") from None
        return store

    def on_change(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def _listen(self) -> bool:
        changes = self.db.changes()
        if changes is None:
            return False

        async def hear() -> None:
            async for heard in changes:
                kind, _, changed = heard.partition(":")
                if heard == "*":
                    self.cache.clear()
                    changed = "*"
                else:
                    self.cache.drop(changed)
                    if kind != "w":
                        continue
                for callback in list(self._listeners):
                    try:
                        callback(changed)
                    except Exception:  # a listener's bug must not stop the others
                        log.exception("change listener failed for %s", changed)

        self._hearing = asyncio.create_task(hear(), name="store-changes")
        return True

    async def ping(self) -> bool:
        """True if the database answers (used by VOSI availability)."""
        try:
            return await self.db.row("SELECT 1") is not None
        except Exception:
            return False

    async def writable(self) -> bool:
        """True if the store can take a write now (readiness probes)."""
        return await self.db.writable()

    async def close(self) -> None:
        if self._hearing is not None:
            self._hearing.cancel()
            await asyncio.gather(self._hearing, return_exceptions=True)
        await self.db.close()


def _conforms(store: JobStore) -> Store:
    """Never called: mypy checks here that JobStore implements the interface."""
    return store
