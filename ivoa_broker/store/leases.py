"""Leases: which replica does a piece of once-only work, until when.

A lease is a row ``(name, holder, expires)``. :meth:`Leases.acquire` is one
statement, atomic on both engines: it takes a free or expired lease, or renews
one this holder already has, and tells whether the caller holds it now. A holder
that dies stops renewing; another takes the lease over once it has expired, so
take-over is bounded by the lease's time to live plus one renewal interval.
Instants are the replicas' UTC clocks (keep them in sync, NTP); the time to live
should be well above any clock skew.

:class:`LeaseKeeper` renews one lease in the background and calls back when it
is gained or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from ivoa_broker.protocol import utcnow
from ivoa_broker.store.db import Database
from ivoa_broker.units import db_instant, from_db_instant

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, db: Database, holder: str) -> None:
        self.db = db
        self.holder = holder

    async def acquire(self, name: str, ttl: float, now: datetime | None = None) -> bool:
        """Take or renew ``name`` for ``ttl`` seconds; True if this holder has it."""
        now = now or utcnow()
        rows = await self.db.returning(
            "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires = excluded.expires "
            "WHERE leases.holder = excluded.holder OR leases.expires <= ? "
            "RETURNING holder",
            (name, self.holder, db_instant(now + timedelta(seconds=ttl)), db_instant(now)),
        )
        return bool(rows)

    async def release(self, name: str) -> None:
        """Give the lease up at once (a clean shutdown): another may take it now."""
        await self.db.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?", (name, self.holder)
        )

    async def holder_of(self, name: str) -> tuple[str, datetime] | None:
        row = await self.db.row("SELECT holder, expires FROM leases WHERE name = ?", (name,))
        return (str(row[0]), from_db_instant(row[1])) if row else None


class LeaseKeeper:
    """Keeps trying to hold one lease: renews it every ``ttl / 3`` seconds, calls
    ``gained()`` when this holder gets it and ``lost()`` when a renewal fails
    (expired meanwhile and taken, or the database unreachable)."""

    def __init__(
        self,
        leases: Leases,
        name: str,
        ttl: float,
        gained: Callable[[], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.leases = leases
        self.name = name
        self.ttl = ttl
        self.held = False
        self._gained = gained
        self._lost = lost
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.name}")

    async def _run(self) -> None:
        while True:
            try:
                ok = await self.leases.acquire(self.name, self.ttl)
            except Exception as exc:  # the database away: we cannot know we hold it
                log.warning("lease %s not renewed: %s", self.name, exc)
                ok = False
            if ok and not self.held:
                self.held = True
                log.info("lease %s gained by %s", self.name, self.leases.holder)
                await self._gained()
            elif not ok and self.held:
                self.held = False
                log.warning("lease %s lost by %s", self.name, self.leases.holder)
                await self._lost()
            await asyncio.sleep(self.ttl / 3)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                await self.leases.release(self.name)
