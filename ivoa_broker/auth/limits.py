"""Per-owner limits: active jobs and pending offer sets, 429 with Retry-After.

``[auth.limits]`` sets the default, ``[auth.limits.groups.NAME]`` a group's; a member
of several groups gets the highest limit any of them (or the default) gives, and an
unset value means unlimited. The check and the insert it guards run under one lock
per owner, so N concurrent requests against a limit of M admit exactly M (a single
broker process owns its SQLite store; see docs/operating.md).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.settings import LimitsSection
from ivoa_broker.errors import TooManyRequests
from ivoa_broker.protocol import utcnow
from ivoa_broker.store import JobStore

Kind = Literal["active_jobs", "pending_offersets"]
_WHAT = {"active_jobs": "active jobs", "pending_offersets": "pending offer sets"}


class Limits:
    def __init__(self, section: LimitsSection, retry_after: int, store: JobStore) -> None:
        self.section = section
        self.retry_after = retry_after
        self.store = store
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        return (
            f"Limits(active_jobs={self.section.active_jobs}, "
            f"pending_offersets={self.section.pending_offersets})"
        )

    def limit(self, identity: Identity, kind: Kind) -> int | None:
        """The limit for this caller: the highest its groups set, else the default
        (None: unlimited)."""
        groups = self.section.groups
        found: list[int | None] = [getattr(groups[g], kind) for g in identity.groups if g in groups]
        given = [v for v in found if v is not None]
        if given:
            return max(given)
        value: int | None = getattr(self.section, kind)
        return value

    @asynccontextmanager
    async def admit(self, identity: Identity, kind: Kind) -> AsyncIterator[None]:
        """Run the body (which inserts the job or offer set) only while the owner is
        under the limit; :class:`TooManyRequests` otherwise."""
        limit = self.limit(identity, kind)
        if limit is None:
            yield
            return
        key = identity.owner or ""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            if kind == "active_jobs":
                count = await self.store.count_active_jobs(identity.owner)
            else:
                count = await self.store.count_pending_offersets(identity.owner, utcnow())
            if count >= limit:
                raise TooManyRequests(
                    f"limit reached: {count} {_WHAT[kind]} of at most {limit}; "
                    f"try again when one has ended (in about {self.retry_after} s)",
                    self.retry_after,
                )
            yield
