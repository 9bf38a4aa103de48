"""JobService + Dispatcher against a steerable fake platform (no HTTP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from ivoa_broker.errors import BadRequest, Forbidden, JobNotFound
from ivoa_broker.protocol import Phase, utcnow
from ivoa_broker.records import Parameter
from tests.fakes import ExplodingAdapter, FakeAdapter
from tests.rig import Rig, make_rig

# every rig of these tests runs on SQLite and on PostgreSQL (tests/stores.py)
pytestmark = pytest.mark.usefixtures("both_stores")

ECHO = [Parameter("cmd", "echo"), Parameter("args", "hi")]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(tmp_path)
    yield r
    await r.dispatcher.close()
    await r.store.close()


async def test_lifecycle(rig: Rig) -> None:
    job = await rig.jobs.create("alice", ECHO, run_id="r1")
    assert job.phase is Phase.PENDING
    assert job.run_id == "r1"
    await rig.jobs.run(job.job_id, "alice")
    await rig.settle(job.job_id, Phase.QUEUED)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    native = f"n-{job.job_id}"
    rig.fake.set(native, "running")
    await rig.settle(job.job_id, Phase.EXECUTING)
    rig.fake.set(native, "done", 0)
    await rig.settle(job.job_id, Phase.COMPLETED)
    done = await rig.jobs.get(job.job_id, "alice")
    assert done.start_time
    assert done.end_time
    assert done.start_time <= done.end_time
    assert [r.id for r in done.results] == ["out"]
    assert done.job_info["exit_code"] == "0"
    assert rig.fake.submitted[0].command == ("echo", "hi")
    assert rig.fake.released == [native]  # freed once the results were collected
    assert rig.fake.cleaned == []  # results stay until destruction


async def test_wait_is_woken_by_the_change(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO, run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    waiter = asyncio.create_task(rig.jobs.wait(job.job_id, None, 20, None))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    started = time.monotonic()
    rig.fake.set(f"n-{job.job_id}", "running")
    seen = await asyncio.wait_for(waiter, 5)
    assert seen.phase is Phase.EXECUTING
    assert time.monotonic() - started < 5


async def test_wait_returns_at_once_outside_blocking_phases(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO)
    # PHASE given and different: immediate
    got = await asyncio.wait_for(rig.jobs.wait(job.job_id, None, 20, Phase.QUEUED), 1)
    assert got.phase is Phase.PENDING
    await rig.jobs.abort(job.job_id, None)
    got = await asyncio.wait_for(rig.jobs.wait(job.job_id, None, 20, None), 1)
    assert got.phase is Phase.ABORTED


async def test_failure_is_error_with_message(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO, run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{job.job_id}", "failed", 3)
    await rig.settle(job.job_id, Phase.ERROR)
    failed = await rig.jobs.get(job.job_id, None)
    assert failed.error is not None
    assert "exit 3" in failed.error.message
    assert failed.job_info["exit_code"] == "3"


async def test_no_offer_fails_clearly(rig: Rig) -> None:
    job = await rig.jobs.create(None, [*ECHO, Parameter("image", "python:3")], run=True)
    await rig.settle(job.job_id, Phase.ERROR)
    failed = await rig.jobs.get(job.job_id, None)
    assert failed.error is not None
    assert "no platform can run this job" in failed.error.message
    assert "fake" in failed.error.message


async def test_abort_stops_platform_work(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO, run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{job.job_id}", "running")
    await rig.settle(job.job_id, Phase.EXECUTING)
    await rig.jobs.abort(job.job_id, None)
    assert rig.fake.cancelled == [f"n-{job.job_id}"]
    assert (await rig.jobs.get(job.job_id, None)).phase is Phase.ABORTED
    with pytest.raises(Forbidden):
        await rig.jobs.run(job.job_id, None)


async def test_delete_cancels_and_cleans_up(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO, run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    await rig.jobs.delete(job.job_id, None)
    assert rig.fake.cancelled == [f"n-{job.job_id}"]
    with pytest.raises(JobNotFound):
        await rig.jobs.get(job.job_id, None)
    await asyncio.wait_for(rig.fake.any_cleanup.wait(), 5)
    assert rig.fake.cleaned == [f"n-{job.job_id}"]


async def test_owner_isolation(rig: Rig) -> None:
    job = await rig.jobs.create("alice", ECHO)
    for call in (
        rig.jobs.get(job.job_id, "bob"),
        rig.jobs.get(job.job_id, None),
        rig.jobs.delete(job.job_id, "bob"),
        rig.jobs.run(job.job_id, "bob"),
    ):
        with pytest.raises(JobNotFound):
            await call
    assert await rig.jobs.list("bob") == []
    assert [j.job_id for j in await rig.jobs.list("alice")] == [job.job_id]


async def test_bad_request_leaves_no_job(rig: Rig) -> None:
    with pytest.raises(BadRequest, match="'cores'"):
        await rig.jobs.create(None, [*ECHO, Parameter("cores", "-1")])
    assert await rig.store.count() == 0


async def test_parameters_change_only_in_pending(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO)
    await rig.jobs.set_parameters(job.job_id, None, [Parameter("cores", "2")])
    assert (await rig.jobs.get(job.job_id, None)).parameter_values("cores") == ["2"]
    with pytest.raises(BadRequest):
        await rig.jobs.set_parameters(job.job_id, None, [Parameter("cores", "x")])
    await rig.jobs.run(job.job_id, None)
    with pytest.raises(Forbidden):
        await rig.jobs.set_parameters(job.job_id, None, [Parameter("cores", "3")])


async def test_execution_duration_is_enforced(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path)
    try:
        job = await rig.jobs.create(None, ECHO, execution_duration=1, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        rig.fake.set(f"n-{job.job_id}", "running")
        await rig.settle(job.job_id, Phase.EXECUTING)
        await rig.settle(job.job_id, Phase.ABORTED, timeout=10)
        aborted = await rig.jobs.get(job.job_id, None)
        assert aborted.error is not None
        assert "execution duration of 1 s" in aborted.error.message
        assert rig.fake.cancelled == [f"n-{job.job_id}"]
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_destruction_archives(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path)
    try:
        job = await rig.jobs.create(None, ECHO)
        await rig.jobs.set_destruction(job.job_id, None, utcnow() + timedelta(seconds=0.3))
        await rig.settle(job.job_id, Phase.ARCHIVED, timeout=10)
        assert await rig.jobs.list(None) == []
        assert [j.job_id for j in await rig.jobs.list(None, phases=[Phase.ARCHIVED])] == [
            job.job_id
        ]
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_recovery_reattaches_running_jobs(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path)
    job = await rig.jobs.create(None, ECHO, run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{job.job_id}", "running")
    await rig.settle(job.job_id, Phase.EXECUTING)
    platform_state = rig.fake.native
    await rig.dispatcher.close()
    await rig.store.close()
    # a new broker over the same store and the same platform
    fake2 = FakeAdapter()
    fake2.native = platform_state
    rig2 = await make_rig(tmp_path, fake2)
    try:
        fake2.set(f"n-{job.job_id}", "done", 0)
        await rig2.settle(job.job_id, Phase.COMPLETED)
    finally:
        await rig2.dispatcher.close()
        await rig2.store.close()


async def test_orphans_are_swept(tmp_path: Path) -> None:
    fake = FakeAdapter()
    fake.native = {"n-ghost": "running"}
    rig = await make_rig(tmp_path, fake)
    try:
        await asyncio.wait_for(fake.any_cleanup.wait(), 5)
        assert fake.cleaned == ["n-ghost"]
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_exploding_plugin_cannot_lose_a_job(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, ExplodingAdapter("exploding"))
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await rig.settle(job.job_id, Phase.ERROR)
        failed = await rig.jobs.get(job.job_id, None)
        assert failed.error is not None
        assert "failed unexpectedly" in failed.error.message
        other = await rig.jobs.create(None, ECHO)
        await rig.jobs.delete(other.job_id, None)
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_wait_leaves_no_events_behind(rig: Rig) -> None:
    job = await rig.jobs.create(None, ECHO)
    waiters = [asyncio.create_task(rig.jobs.wait(job.job_id, None, 0.2, None)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert len(rig.jobs.events) == 1
    await asyncio.gather(*waiters)
    assert len(rig.jobs.events) == 0
    cancelled = asyncio.create_task(rig.jobs.wait(job.job_id, None, 20, None))
    await asyncio.sleep(0.05)
    cancelled.cancel()  # a client that hung up
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert len(rig.jobs.events) == 0


async def test_extending_a_running_job_renews_it_on_the_platform(tmp_path: Path) -> None:
    from tests.fakes import RenewingAdapter

    rig = await make_rig(tmp_path, RenewingAdapter("renewing"))
    try:
        job = await rig.jobs.create(None, ECHO, execution_duration=60, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        rig.fake.set(f"n-{job.job_id}", "running")
        await rig.settle(job.job_id, Phase.EXECUTING)
        await rig.jobs.set_execution_duration(job.job_id, None, 30)  # shorter: no renew
        assert rig.fake.renewed == []  # type: ignore[attr-defined]
        await rig.jobs.set_execution_duration(job.job_id, None, 600)
        assert rig.fake.renewed == [f"n-{job.job_id}"]  # type: ignore[attr-defined]
        stored = await rig.jobs.get(job.job_id, None)
        assert "platform_expiry" in stored.job_info
        assert stored.start_time is not None
        # the new deadline is the start plus the new duration
        assert rig.fake.deadlines == [  # type: ignore[attr-defined]
            stored.start_time + timedelta(seconds=600)
        ]
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_interactive_endpoint_is_reported_in_job_info_and_results(tmp_path: Path) -> None:
    from tests.fakes import InteractiveAdapter

    rig = await make_rig(tmp_path, InteractiveAdapter("interactive"))
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        rig.fake.set(f"n-{job.job_id}", "running")
        await rig.settle(job.job_id, Phase.EXECUTING)
        url = f"https://sessions.example/n-{job.job_id}/lab"
        running = await rig.jobs.get(job.job_id, None)
        assert running.job_info["endpoint"] == url
        assert [(r.id, r.href) for r in running.results] == [("endpoint", url)]
        await rig.dispatcher.poll("interactive")  # seen again: not duplicated
        assert len((await rig.jobs.get(job.job_id, None)).results) == 1
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


@pytest.mark.parametrize(
    ("duration", "maximum", "expected"),
    [(7200, 86400, 7200), (0, 86400, 86400), (0, 0, None), (90000, 86400, 86400)],
)
async def test_submit_gets_the_deadline_of_the_execution_duration(
    tmp_path: Path, duration: int, maximum: int, expected: int | None
) -> None:
    """EXECUTIONDURATION reaches the adapter as an absolute deadline (the broker's
    maximum when 0) and as walltime_seconds; unlimited both ways means none."""
    rig = await make_rig(tmp_path, max_execution_duration=maximum)
    try:
        before = utcnow()
        job = await rig.jobs.create(None, ECHO, execution_duration=duration, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        after = utcnow()
        request = rig.fake.submitted[-1]
        assert request.job_id == job.job_id
        if expected is None:
            assert request.deadline is None
            assert request.resources.walltime_seconds is None
        else:
            assert request.deadline is not None
            assert before + timedelta(seconds=expected) <= request.deadline
            assert request.deadline <= after + timedelta(seconds=expected)
            assert request.resources.walltime_seconds == expected
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_submit_gets_the_owner_account_of_the_instance(tmp_path: Path) -> None:
    from ivoa_broker.protocol import AdapterConfig, IdentityMap

    config = AdapterConfig(identity=IdentityMap(accounts={"alice": "al"}, template="u-{owner}"))
    rig = await make_rig(tmp_path, FakeAdapter("fake", config))
    try:
        await rig.jobs.create("alice", ECHO, run=True)
        await rig.jobs.create("bob", ECHO, run=True)
        await rig.jobs.create(None, ECHO, run=True)
        for _ in range(50):
            if len(rig.fake.submitted) == 3:
                break
            await asyncio.sleep(0.05)
        accounts = {r.owner: r.account for r in rig.fake.submitted}
        assert accounts == {"alice": "al", "bob": "u-bob", None: None}
    finally:
        await rig.dispatcher.close()
        await rig.store.close()
