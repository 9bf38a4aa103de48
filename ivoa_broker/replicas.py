"""Several broker replicas on one PostgreSQL store: one of them does the platform work.

Any replica answers any request (the store is the one truth, its notifications
wake WAIT and stale caches everywhere). The work that must happen once, launching
queued jobs, polling platforms, the deadline reaper, offer expiry, re-attaching
and orphan sweeps, is done by the replica that holds the ``dispatcher`` lease
(:mod:`ivoa_broker.store.leases`): :class:`ReplicaDispatcher` runs the ordinary
:class:`~ivoa_broker.dispatch.Dispatcher` loops only while it holds it.

- A job queued on a replica that does not lead is launched by the leader, which
  hears the change (a ``NOTIFY``) and adopts every QUEUED job with no platform
  handle yet (one with a launch intent on the platform it names, never another:
  the dead leader's submit may have reached it); stopping and releasing go
  straight to the platform from any replica.
- The leader renews its lease every ``ttl / 3`` seconds; if it dies, another
  replica takes the lease over once it has expired (at most ``ttl`` plus
  ``ttl / 3``), then re-attaches every live job from the store and sweeps
  orphans, as a restarted single broker does.
- A leader that cannot renew (database away, lease taken) stops its loops and
  forgets its live handles; the new leader re-attaches them.

With SQLite (one process) the plain :class:`~ivoa_broker.dispatch.Dispatcher` is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping

from ivoa_broker.config import JobsSection
from ivoa_broker.dispatch import CALL_TIMEOUT, Dispatcher
from ivoa_broker.jobs import JobService
from ivoa_broker.protocol import Adapter, Offer, Phase
from ivoa_broker.store import JobStore
from ivoa_broker.store.leases import LeaseKeeper, Leases

log = logging.getLogger(__name__)

LEASE = "dispatcher"
#: seconds a leader's lease lasts without renewal: the bound on take-over time
LEASE_TTL = 6.0


def replica_name() -> str:
    """This process, as lease holder: host, pid and a random part (pids recur)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ReplicaDispatcher(Dispatcher):
    def __init__(
        self,
        jobs: JobService,
        store: JobStore,
        adapters: Mapping[str, Adapter],
        settings: JobsSection,
        *,
        call_timeout: float = CALL_TIMEOUT,
        holder: str | None = None,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        super().__init__(jobs, store, adapters, settings, call_timeout=call_timeout)
        self.holder = holder or replica_name()
        self.keeper = LeaseKeeper(
            Leases(store.db, self.holder), LEASE, lease_ttl, self._lead, self._follow
        )
        store.on_change(self._heard)

    @property
    def leading(self) -> bool:
        return self.keeper.held

    async def begin(self) -> None:
        self.keeper.start()

    async def close(self) -> None:
        await self.keeper.stop()
        await super().close()

    def start(self, job_id: str, offer: Offer | None = None) -> None:
        if self.leading:
            super().start(job_id, offer)
        # else: the leader hears the job's change and launches it

    async def _lead(self) -> None:
        log.info("replica %s leads: re-attaching jobs, starting the loops", self.holder)
        await super().begin()  # recover() + poll loops + reaper
        await self._adopt_queued()

    async def _follow(self) -> None:
        log.warning("replica %s no longer leads: stopping its loops", self.holder)
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for handles in self._live.values():
            handles.clear()

    def _heard(self, job_id: str) -> None:
        if not self.leading:
            return
        if job_id == "*":
            self._spawn(self._adopt_queued())
        else:
            self._spawn(self._adopt(job_id))

    async def _adopt(self, job_id: str) -> None:
        """Launch a job another replica queued, once."""
        if job_id in self._launching:
            return
        job = await self.store.get(job_id)
        if job is None or job.phase is not Phase.QUEUED:
            return
        _, handle = await self.store.handle_of(job_id)
        if handle is None and job_id not in self._launching and self.leading:
            super().start(job_id)

    async def _adopt_queued(self) -> None:
        for live in await self.store.live_jobs([Phase.QUEUED]):
            if live.handle is None and not live.cancel_requested:
                await self._adopt(live.job_id)
