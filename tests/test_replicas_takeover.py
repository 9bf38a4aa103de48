"""Lease take-over with a submit cut short, in one process on a real PostgreSQL.

Two :class:`ReplicaDispatcher` replicas, each with its own store connection pool,
its own listening connection and its own platform instances (over one shared
platform state). Replica ``A`` leads and submits a job to platform ``a``, which
queues the task and never answers; ``A`` then dies holding the lease (not released,
as after SIGKILL). ``B`` takes the lease once it expires and, although platform
``b`` now ranks first, the job goes back to ``a`` and is adopted there: one task,
on the platform the dead leader chose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivoa_broker.config import JobsSection
from ivoa_broker.jobs import JobService
from ivoa_broker.protocol import AdapterDeps, Handle, Phase
from ivoa_broker.replicas import ReplicaDispatcher
from ivoa_broker.store import JobStore
from ivoa_broker.testing.postgres import PostgresServer
from tests.stores import new_schema
from tests.test_dispatch_intent import ECHO, GUARD, Platform

#: short, so the take-over comes quickly (the bound is ttl + ttl/3)
TTL = 0.6


@dataclass
class Replica:
    store: JobStore
    jobs: JobService
    dispatcher: ReplicaDispatcher

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.store.close()


async def replica(url: str, name: str, tmp_path: Path, *platforms: Platform) -> Replica:
    store = await JobStore.open(url)
    settings = JobsSection()
    jobs = JobService(store, settings)
    dispatcher = ReplicaDispatcher(
        jobs, store, {p.name: p for p in platforms}, settings, holder=name, lease_ttl=TTL
    )
    for p in platforms:
        p.deps = AdapterDeps(data_dir=tmp_path, wake=waker(dispatcher, p.name))
    await dispatcher.begin()
    return Replica(store, jobs, dispatcher)


def waker(dispatcher: ReplicaDispatcher, name: str) -> Callable[[str], None]:
    def wake(native_id: str) -> None:
        dispatcher.wake(name, native_id)

    return wake


@pytest.fixture
async def url(postgres_server: PostgresServer) -> str:
    return await new_schema(postgres_server)


async def test_the_new_leader_resumes_a_cut_submit_on_the_chosen_platform(
    url: str, tmp_path: Path
) -> None:
    a1, b1 = Platform("a"), Platform("b", later=True)
    a1.cut = True
    first = await replica(url, "replica-a", tmp_path, a1, b1)
    second: Replica | None = None
    try:
        job = await first.jobs.create("alice", ECHO, run=True)
        await asyncio.wait_for(a1.any_submit.wait(), GUARD)  # A leads and submits to a
        a2, b2 = Platform("a", later=True), Platform("b")  # b would win a fresh ranking
        a2.native = a1.native  # one platform, seen by both replicas
        second = await replica(url, "replica-b", tmp_path, a2, b2)
    finally:
        # SIGKILL of A: its launch dies before the Handle is stored; the lease stays
        # taken until it expires
        first.dispatcher.keeper.held = False
        await first.close()
    try:
        await asyncio.wait_for(a2.any_submit.wait(), GUARD)  # B leads: submit again, on a
        assert second.dispatcher.leading
        await asyncio.wait_for(second.dispatcher.launched(job.job_id), GUARD)
        platform, handle = await second.store.handle_of(job.job_id)
        assert platform == "a" and handle is not None
        assert Handle.from_json(handle).native_id == f"n-{job.job_id}"
        assert b1.submitted == [] and b2.submitted == []
        assert list(a2.native) == [f"n-{job.job_id}"]  # one task: adopted, not doubled
        stored = await second.store.get(job.job_id)
        assert stored is not None and stored.phase is Phase.QUEUED
        assert stored.job_info["adopted"] == f"n-{job.job_id}"
    finally:
        await second.close()
