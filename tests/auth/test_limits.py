"""Per-owner limits: the group's highest value wins; exactly N admitted under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.limits import Limits
from ivoa_broker.auth.settings import LimitsSection
from ivoa_broker.errors import TooManyRequests
from ivoa_broker.protocol import Phase, utcnow
from ivoa_broker.records import Job
from ivoa_broker.store import JobStore

SECTION = LimitsSection.model_validate(
    {
        "active_jobs": 2,
        "groups": {"astro": {"active_jobs": 5}, "big": {"active_jobs": 9}, "x": {}},
    }
)


def test_limit_per_group() -> None:
    limits = Limits(SECTION, 30, store=None)  # type: ignore[arg-type]
    assert limits.limit(Identity("a"), "active_jobs") == 2
    assert limits.limit(Identity("a", frozenset({"x"})), "active_jobs") == 2
    assert limits.limit(Identity("a", frozenset({"astro"})), "active_jobs") == 5
    assert limits.limit(Identity("a", frozenset({"astro", "big"})), "active_jobs") == 9
    assert limits.limit(Identity("a"), "pending_offersets") is None


def _job(owner: str, phase: Phase = Phase.PENDING) -> Job:
    now = utcnow()
    return Job(
        job_id=str(uuid.uuid4()),
        owner=owner,
        phase=phase,
        creation_time=now,
        execution_duration=60,
        destruction=now + timedelta(days=1),
    )


async def test_exactly_n_admitted_under_concurrency(store: JobStore) -> None:
    """On SQLite and on PostgreSQL (the shared ``store`` fixture, tests/stores.py)."""
    await store.insert(_job("alice", Phase.COMPLETED))  # ended: not counted
    await store.insert(_job("bob"))  # another owner: not counted
    limits = Limits(SECTION, 30, store)
    alice = Identity("alice")
    refused: list[int] = []

    async def one() -> bool:
        try:
            async with limits.admit(alice, "active_jobs"):
                await asyncio.sleep(0)  # let the others race the insert
                await store.insert(_job("alice"))
                return True
        except TooManyRequests as exc:
            refused.append(exc.retry_after)
            return False

    results = await asyncio.gather(*(one() for _ in range(10)))
    assert results.count(True) == 2
    assert refused == [30] * 8
    assert await store.count_active_jobs("alice") == 2
    assert await store.count_pending_offersets("alice", utcnow()) == 0
    everyone = await store.list_every_job(phases=None, after=None, limit=100)
    assert sorted({j.owner or "" for j in everyone}) == ["alice", "bob"]
    with pytest.raises(TooManyRequests, match="2 active jobs of at most 2"):
        async with limits.admit(alice, "active_jobs"):
            pass
