"""The one test rig: JobService + Dispatcher + OfferService over fake platforms (no HTTP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivoa_broker.config import JobsSection
from ivoa_broker.dispatch import CALL_TIMEOUT, Dispatcher
from ivoa_broker.jobs import JobService
from ivoa_broker.offers import OfferService
from ivoa_broker.protocol import AdapterDeps, Phase
from ivoa_broker.records import Job
from ivoa_broker.store import JobStore
from tests.fakes import FakeAdapter

#: where make_rig keeps its store when not told: None is ``<path>/jobs.db`` (SQLite);
#: tests/stores.py sets a PostgreSQL URL for the tests that run on both stores
DEFAULT_STORE: str | None = None


class JobVanished(AssertionError):
    """The job row disappeared while a test waited for it."""


@dataclass
class Rig:
    store: JobStore
    jobs: JobService
    dispatcher: Dispatcher
    offers: OfferService
    adapters: Mapping[str, FakeAdapter]

    @property
    def fake(self) -> FakeAdapter:
        """The first (often the only) platform."""
        return next(iter(self.adapters.values()))

    async def settle(self, job_id: str, phase: Phase, timeout: float = 5.0) -> Job:
        """Wait until the job is in ``phase``; fails if it never gets there or vanishes."""
        return await self.until(job_id, lambda job: job.phase == phase, str(phase), timeout)

    async def until(
        self, job_id: str, ok: Callable[[Job], bool], wanted: str, timeout: float = 5.0
    ) -> Job:
        """Wait on the job's change events until ``ok(job)``; a job row that is gone
        fails the test (it can never get there)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.jobs.events.watching(job_id) as changed:
                job = await self.store.get(job_id)
                if job is None:
                    raise JobVanished(f"job {job_id} vanished while waiting for {wanted}")
                if ok(job):
                    return job
                try:
                    await asyncio.wait_for(changed.wait(), max(deadline - time.monotonic(), 0))
                except TimeoutError:
                    raise AssertionError(
                        f"{job_id} stuck in {job.phase}, wanted {wanted}"
                    ) from None

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.store.close()


async def make_rig(
    path: Path,
    adapters: FakeAdapter | Sequence[FakeAdapter] | None = None,
    *,
    call_timeout: float = CALL_TIMEOUT,
    store: str | None = None,
    **jobs: Any,
) -> Rig:
    """A started rig over ``adapters`` (default: one :class:`FakeAdapter`)."""
    if adapters is None:
        adapters = [FakeAdapter()]
    elif isinstance(adapters, FakeAdapter):
        adapters = [adapters]
    where = store or DEFAULT_STORE
    db = await JobStore.open(where if where is not None else path / "jobs.db")
    settings = JobsSection(**jobs)
    service = JobService(db, settings)
    holder: list[Dispatcher] = []
    for adapter in adapters:
        adapter.deps = AdapterDeps(
            data_dir=path, wake=lambda nid, n=adapter.name: holder[0].wake(n, nid)
        )
    named = {a.name: a for a in adapters}
    dispatcher = Dispatcher(service, db, named, settings, call_timeout=call_timeout)
    holder.append(dispatcher)
    await dispatcher.begin()
    return Rig(db, service, dispatcher, OfferService(db, service, dispatcher, settings), named)
