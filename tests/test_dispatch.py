"""Dispatcher: capacity, submit retries and adoption, lost tasks, poll backoff, the guard."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.protocol import (
    BaseAdapter,
    CallContext,
    EndReason,
    ExecutionRequest,
    Handle,
    NoCapacity,
    Offer,
    Phase,
    Progress,
    Status,
    TransientError,
    Usage,
)
from ivoa_broker.records import Job, Parameter
from ivoa_broker.store import JobEnd
from tests.fakes import FakeAdapter
from tests.rig import Rig, make_rig

#: every test on SQLite and on PostgreSQL (tests/stores.py)
pytestmark = pytest.mark.usefixtures("both_stores")

ECHO = [Parameter("cmd", "echo"), Parameter("args", "hi")]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Submit backoff in milliseconds (the policy, not the pace, is under test)."""
    monkeypatch.setattr("ivoa_broker.dispatch.SUBMIT_BACKOFF", 0.001)


class FullPlatform(FakeAdapter):
    plugin = "full"

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        raise NoCapacity("all 4 slots are busy")


class FlakySubmit(FakeAdapter):
    """Refuses ``failures`` submits with a TransientError; ``queue_anyway`` makes the
    failing submit queue the task all the same (a lost answer)."""

    plugin = "flaky"

    def __init__(self, failures: int, *, queue_anyway: bool = False) -> None:
        super().__init__("flaky")
        self.failures = failures
        self.queue_anyway = queue_anyway
        self.attempts = 0
        self.listed = 0

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        self.attempts += 1
        if self.attempts <= self.failures:
            if self.queue_anyway:
                await super().submit(request, offer, ctx)
            raise TransientError("the scheduler did not answer")
        return await super().submit(request, offer, ctx)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        if ctx.request_id:  # looking for one job's task (not the start-up sweep)
            self.listed += 1
        return await super().list_native(ctx)


class HangingSubmit(FakeAdapter):
    """The first submit queues the task, then hangs (the answer never comes)."""

    plugin = "hanging"

    def __init__(self) -> None:
        super().__init__("hanging")
        self.attempts = 0

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        self.attempts += 1
        handle = await super().submit(request, offer, ctx)
        if self.attempts == 1:
            await asyncio.Event().wait()
        return handle


class RaisingExplain(FakeAdapter):
    plugin = "explainer"

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        return []

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        raise RuntimeError("explain exploded")


class GarbageOffers(FakeAdapter):
    plugin = "garbage"

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        return [{"not": "an offer"}]  # type: ignore[list-item]


class CountingStatus(FakeAdapter):
    """status_many fails ``failures`` times with TransientError, counting the calls."""

    plugin = "counting"
    poll_interval = timedelta(seconds=1)

    def __init__(self, failures: int) -> None:
        super().__init__("counting")
        self.failures = failures
        self.calls = 0
        self.seen = asyncio.Event()

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        self.calls += 1
        self.seen.set()
        if self.calls <= self.failures:
            raise TransientError("status is down")
        return await super().status_many(handles, ctx)


class RichStatus(FakeAdapter):
    """Reports why a task ended, what it used, and what a starting task does."""

    plugin = "rich"

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        found = dict(await super().status_many(handles, ctx))
        for native_id, status in found.items():
            if status.phase is Phase.QUEUED:
                found[native_id] = Status(
                    Phase.QUEUED, "queued", progress=Progress("pulling image", 0.5)
                )
            elif status.phase is Phase.ERROR:
                found[native_id] = Status(
                    Phase.ERROR,
                    "OUT_OF_MEMORY",
                    message="killed by the OOM killer",
                    exit_code=137,
                    signal=9,
                    reason=EndReason.OUT_OF_MEMORY,
                    usage=Usage(cpu_seconds=12.5, elapsed_seconds=30.0, max_rss_bytes=2**30),
                )
        return found


# ------------------------------------------------------------------ capacity


async def test_no_capacity_keeps_the_job_queued_with_its_place(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, FullPlatform("full"))
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        queued = await rig.until(
            job.job_id, lambda j: "queue_position" in j.job_info, "a queue position"
        )
        assert queued.phase is Phase.QUEUED  # not HELD: the broker waits, not the client
        assert queued.job_info["queue_position"] == "1"
        assert "all 4 slots are busy" in queued.job_info["queue_message"]
        assert rig.dispatcher.queue_position(job.job_id) == 1
        await rig.jobs.abort(job.job_id, "alice")  # leaving the queue forgets the place
        aborted = await rig.settle(job.job_id, Phase.ABORTED)
        assert "queue_position" not in aborted.job_info
        assert rig.dispatcher.queue_position(job.job_id) is None
    finally:
        await rig.close()


class Slots(FakeAdapter):
    """A platform with ``slots`` places: submit refuses with NoCapacity beyond them."""

    plugin = "slots"

    def __init__(self, slots: int) -> None:
        super().__init__("slots")
        self.slots = slots
        self.order: list[str] = []
        self.started = asyncio.Event()

    def busy(self) -> list[str]:
        return [n for n, s in self.native.items() if s in ("queued", "running")]

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        if f"n-{request.job_id}" not in self.native and len(self.busy()) >= self.slots:
            raise NoCapacity(f"all {self.slots} slots are busy")
        self.order.append(request.job_id)
        self.started.set()
        return await super().submit(request, offer, ctx)


async def launched(rig: Rig, owner: str) -> Job:
    """A job run and its launch over (submitted, or refused and queued) before the
    next one arrives: the queue's order is under test, not the race of launches
    that run at once (on PostgreSQL their store round trips may end in any order)."""
    job = await rig.jobs.create(owner, ECHO, run=True)
    await rig.dispatcher.launched(job.job_id)
    return job


async def test_waiting_jobs_start_when_room_frees(tmp_path: Path) -> None:
    slots = Slots(2)
    rig = await make_rig(tmp_path, slots)
    try:
        jobs = [await launched(rig, "alice") for _ in range(6)]
        done = 0
        while done < len(jobs):  # the test plays the platform: finish what runs
            running = slots.busy()
            assert 0 < len(running) <= 2
            slots.started.clear()
            for native_id in running:
                slots.set(native_id, "done", 0)
                done += 1
            for native_id in running:
                await rig.settle(native_id.removeprefix("n-"), Phase.COMPLETED)
            if done < len(jobs):  # the queue starts the next ones by itself
                await asyncio.wait_for(slots.started.wait(), 5)
        assert slots.order == [j.job_id for j in jobs]  # first come, first served
    finally:
        await rig.close()


async def test_queue_is_fair_across_owners(tmp_path: Path) -> None:
    slots = Slots(1)
    rig = await make_rig(tmp_path, slots)
    try:
        first = await rig.jobs.create("alice", ECHO, run=True)
        await rig.dispatcher.launched(first.job_id)
        alice = [await launched(rig, "alice") for _ in range(3)]
        bob = await rig.jobs.create("bob", ECHO, run=True)
        await rig.dispatcher.launched(bob.job_id)
        # bob's one job comes before alice's second and third waiting jobs
        assert rig.dispatcher.queue_position(bob.job_id) == 2
        shown = await rig.until(
            bob.job_id, lambda j: j.job_info.get("queue_position") == "2", "place 2"
        )
        assert shown.phase is Phase.QUEUED
        for _ in range(2):
            (running,) = slots.busy()
            slots.started.clear()
            slots.set(running, "done", 0)
            await rig.settle(running.removeprefix("n-"), Phase.COMPLETED)
            await asyncio.wait_for(slots.started.wait(), 5)
        assert slots.order == [first.job_id, alice[0].job_id, bob.job_id]
    finally:
        await rig.close()


# ------------------------------------------------------------- submit retries


async def test_transient_submit_errors_are_retried(tmp_path: Path) -> None:
    flaky = FlakySubmit(failures=2)
    rig = await make_rig(tmp_path, flaky)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(flaky.any_submit.wait(), 5)
        await rig.dispatcher.launched(job.job_id)
        assert flaky.attempts == 3
        assert flaky.listed == 2  # looked for the task before each retry (adopt)
        assert list(flaky.native) == [f"n-{job.job_id}"]
    finally:
        await rig.close()


async def test_submit_gives_up_after_the_attempts_with_an_error(tmp_path: Path) -> None:
    flaky = FlakySubmit(failures=99)
    rig = await make_rig(tmp_path, flaky)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.error is not None
        assert failed.error.type == "transient"
        assert "did not answer" in failed.error.message
        assert flaky.attempts == 4
    finally:
        await rig.close()


async def test_a_task_queued_despite_the_error_is_adopted_not_doubled(tmp_path: Path) -> None:
    flaky = FlakySubmit(failures=1, queue_anyway=True)
    rig = await make_rig(tmp_path, flaky)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        stored = await rig.jobs.get(job.job_id, None)
        assert stored.job_info.get("adopted") == f"n-{job.job_id}"
        assert list(flaky.native) == [f"n-{job.job_id}"]
        assert flaky.cleaned == []
    finally:
        await rig.close()


async def test_a_hanging_submit_times_out_and_the_task_is_found(tmp_path: Path) -> None:
    hanging = HangingSubmit()
    rig = await make_rig(tmp_path, hanging, call_timeout=0.3)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        stored = await rig.jobs.get(job.job_id, None)
        assert hanging.attempts == 2
        assert stored.job_info.get("adopted") == f"n-{job.job_id}"
        hanging.set(f"n-{job.job_id}", "done", 0)
        await rig.settle(job.job_id, Phase.COMPLETED)
    finally:
        await rig.close()


async def test_giving_up_removes_what_a_failed_submit_left(tmp_path: Path) -> None:
    flaky = FlakySubmit(failures=99, queue_anyway=True)
    rig = await make_rig(tmp_path, flaky)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await rig.settle(job.job_id, Phase.ERROR)
        assert flaky.cleaned == [f"n-{job.job_id}"]
        assert flaky.native == {}
    finally:
        await rig.close()


# ------------------------------------------------------------------- polling


async def test_lost_track_after_the_threshold(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, unknown_threshold=3)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        await rig.dispatcher.launched(job.job_id)
        rig.fake.native.clear()  # the platform forgot the task
        for _ in range(2):
            await rig.dispatcher.poll("fake")
        assert (await rig.jobs.get(job.job_id, None)).phase is Phase.QUEUED
        await rig.dispatcher.poll("fake")
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.error is not None
        assert "lost track of the task on fake after 3 tries" in failed.error.message
    finally:
        await rig.close()


async def test_a_status_seen_again_resets_the_count(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, unknown_threshold=2)
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        await rig.dispatcher.launched(job.job_id)
        native = f"n-{job.job_id}"
        for _ in range(3):
            rig.fake.native.pop(native)
            await rig.dispatcher.poll("fake")  # one miss
            rig.fake.native[native] = "queued"
            await rig.dispatcher.poll("fake")  # seen again
        assert (await rig.jobs.get(job.job_id, None)).phase is Phase.QUEUED
    finally:
        await rig.close()


async def test_poll_failures_back_off_exponentially(tmp_path: Path) -> None:
    waits: list[float] = []

    async def nap(wake: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)  # record the policy; do not really sleep
        await asyncio.sleep(0)

    counting = CountingStatus(failures=3)
    rig = await make_rig(tmp_path, counting, unknown_threshold=10)
    try:
        rig.dispatcher._nap = nap  # type: ignore[method-assign]
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(counting.any_submit.wait(), 5)
        counting.set(f"n-{job.job_id}", "done", 0)
        await rig.settle(job.job_id, Phase.COMPLETED)
        interval = counting.poll_interval.total_seconds()
        # three failures double the wait each time (with +-10 % jitter) ...
        for got, want in zip(waits[:3], [2, 4, 8], strict=True):
            assert want * interval * 0.9 <= got <= want * interval * 1.1
        assert counting.calls >= 4
        # ... and three misses were counted, below the threshold: the job ended well
        assert (await rig.jobs.get(job.job_id, None)).error is None
    finally:
        await rig.close()


# ---------------------------------------------------------- status recorded


async def test_reason_usage_signal_and_progress_reach_job_info(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, RichStatus("rich"))
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
        await rig.dispatcher.launched(job.job_id)
        await rig.dispatcher.poll("rich")
        queued = await rig.jobs.get(job.job_id, None)
        assert queued.job_info["progress"] == "pulling image (50%)"
        rig.fake.set(f"n-{job.job_id}", "failed", 137)
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.job_info["end_reason"] == "out_of_memory"
        assert failed.job_info["signal"] == "9"
        assert failed.job_info["exit_code"] == "137"
        assert failed.job_info["usage_cpu_seconds"] == "12.5"
        assert failed.job_info["usage_elapsed_seconds"] == "30"
        assert failed.job_info["usage_max_rss_bytes"] == str(2**30)
        assert failed.error is not None
        assert "killed by the OOM killer" in failed.error.message
        assert "out_of_memory" in failed.error.message
    finally:
        await rig.close()


# --------------------------------------------------------------------- guard


async def test_a_raising_explain_refusal_ends_the_job_in_error(tmp_path: Path) -> None:
    """It used to leave the job QUEUED for ever."""
    rig = await make_rig(tmp_path, RaisingExplain("explainer"))
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.error is not None
        assert "no platform can run this job" in failed.error.message
        assert "explain_refusal" in failed.error.message
    finally:
        await rig.close()


async def test_garbage_offers_are_a_refusal_with_a_reason(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, GarbageOffers("garbage"))
    try:
        job = await rig.jobs.create(None, ECHO, run=True)
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.error is not None
        assert "garbage" in failed.error.message
    finally:
        await rig.close()


async def test_a_launch_that_breaks_anywhere_ends_in_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(tmp_path)
    try:

        async def broken(*args: object, **kw: object) -> None:
            raise KeyError("a bug in the core")

        monkeypatch.setattr(Dispatcher, "gather_offers", broken)
        job = await rig.jobs.create(None, ECHO, run=True)
        failed = await rig.settle(job.job_id, Phase.ERROR)
        assert failed.error is not None
        assert "could not launch" in failed.error.message
    finally:
        await rig.close()


class PlainRelease(FakeAdapter):
    """Frees nothing at a task's end: the base class's ``release``."""

    release = BaseAdapter.release  # type: ignore[assignment]


async def test_the_ends_of_one_pass_are_one_store_write_and_release_only_if_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(tmp_path, [FakeAdapter("own"), PlainRelease("plain")])
    try:
        batches: list[list[str]] = []
        record_ends = rig.store.record_ends

        async def counted(ends: Sequence[JobEnd]) -> list[bool]:
            batches.append(sorted(e.job_id for e in ends))
            return await record_ends(ends)

        monkeypatch.setattr(rig.store, "record_ends", counted)
        calls: list[tuple[str, str]] = []
        rig.dispatcher.guard.observe = lambda name, method, _s, _e: calls.append((name, method))
        for name in ("own", "plain"):
            adapter = rig.adapters[name]
            params = [*ECHO, Parameter("platform", name)]
            jobs = [await rig.jobs.create(None, params, run=True) for _ in range(2)]
            for job in jobs:
                await rig.dispatcher.launched(job.job_id)
            for job in jobs:  # both end before the poller looks: one pass sees both
                adapter.native[f"n-{job.job_id}"] = "done"
            rig.dispatcher.wake(name)
            for job in jobs:
                ended = await rig.settle(job.job_id, Phase.COMPLETED)
                assert [r.id for r in ended.results] == ["out"]
            assert sorted(j.job_id for j in jobs) in batches
        own = next(b for b in batches if len(b) == 2)
        assert sorted(rig.adapters["own"].released) == [f"n-{j}" for j in own]
        assert not [c for c in calls if c == ("plain", "release")]
    finally:
        await rig.close()


class SlowCancel(FakeAdapter):
    """A cancel that returns only when the test says so (the platform's end is seen first)."""

    def __init__(self, name: str = "slow") -> None:
        super().__init__(name)
        self.cancel_may_return = asyncio.Event()

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        await super().cancel(handle, ctx)
        self.deps.wake(handle.native_id)
        await self.cancel_may_return.wait()


async def test_an_abort_the_platform_confirms_first_is_released_and_says_why(
    tmp_path: Path,
) -> None:
    """ABORT, then the poller records the platform's end before the abort's own write:
    the job is ABORTED with the abort's reason, and released (its platform let go)."""
    fake = SlowCancel()
    rig = await make_rig(tmp_path, fake)
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        abort = asyncio.create_task(rig.jobs.abort(job.job_id, "alice"))
        ended = await rig.until(job.job_id, lambda j: j.released is not None, "released")
        assert not abort.done()
        assert ended.phase is Phase.ABORTED
        assert ended.abort_reason == "aborted at the owner's request"
        fake.cancel_may_return.set()
        await abort
        after = await rig.store.get(job.job_id)
        assert after is not None
        assert (after.phase, after.abort_reason) == (Phase.ABORTED, ended.abort_reason)
    finally:
        fake.cancel_may_return.set()
        await rig.close()


async def test_an_end_seen_after_the_abort_was_recorded_releases_the_job(
    tmp_path: Path,
) -> None:
    """The other order: ABORT recorded first (RELEASING), then the platform's end, even
    one from a poll pass that began before the abort (its Handle not yet marked)."""
    rig = await make_rig(tmp_path)
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        native = f"n-{job.job_id}"
        rig.fake.set(native, "held")  # a cancel does not end it: nothing ends yet
        await rig.settle(job.job_id, Phase.HELD)
        stale = Handle("fake", native, {"job": job.job_id})  # cancel_requested False
        await rig.jobs.abort(job.job_id, "alice")
        aborted = await rig.settle(job.job_id, Phase.ABORTED)
        assert aborted.released is None and aborted.abort_reason is not None
        # the end as an older pass saw it: "killed", but with the Handle of before
        await rig.dispatcher._finish("fake", [(job.job_id, stale, Status(Phase.ABORTED, "killed"))])
        released = await rig.store.get(job.job_id)
        assert released is not None
        assert released.phase is Phase.ABORTED and released.released is not None
        assert released.error is None  # not turned into "stopped by the platform"
    finally:
        await rig.close()


async def test_a_wake_about_any_task_polls_them_all_even_with_a_named_one(
    tmp_path: Path,
) -> None:
    """A callback's wake (no task named) and a task's own wake arrive together: the pass
    looks at every task, not only the named one (the other's end is not left waiting
    for ``poll_interval``)."""
    rig = await make_rig(tmp_path)
    try:
        first, second = [await rig.jobs.create(None, ECHO, run=True) for _ in range(2)]
        for job in (first, second):
            await rig.dispatcher.launched(job.job_id)
        rig.fake.native[f"n-{first.job_id}"] = "done"  # ended, nothing said
        rig.dispatcher.wake("fake")
        rig.fake.set(f"n-{second.job_id}", "running")  # names its task
        await rig.settle(first.job_id, Phase.COMPLETED)
        await rig.settle(second.job_id, Phase.EXECUTING)
    finally:
        await rig.close()


# ------------------------------------------------------------------- reaper


async def test_the_reaper_looks_again_only_for_a_deadline_sooner_than_its_wake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new job's destruction a week away wakes no reaper pass (each is four
    queries); a deadline sooner than its next wake does, and so does a change
    that names no deadline."""
    rig = await make_rig(tmp_path, FakeAdapter("fake"))
    try:

        async def idle() -> None:  # the reaper has looked and sleeps until its next wake
            for _ in range(200):
                if rig.dispatcher._reaper_due is not None:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the reaper never went to sleep")

        await idle()
        passes: list[None] = []
        reap = rig.dispatcher.reap

        async def counted() -> None:
            passes.append(None)
            await reap()

        monkeypatch.setattr(rig.dispatcher, "reap", counted)
        jobs = [await rig.jobs.create(None, ECHO) for _ in range(5)]  # destroyed in a week
        await asyncio.sleep(0.1)
        assert passes == []
        due = rig.dispatcher._reaper_due
        assert due is not None

        async def looked(times: int) -> None:
            for _ in range(200):
                if len(passes) >= times:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert len(passes) == times

        await rig.jobs.set_destruction(jobs[0].job_id, None, due - timedelta(minutes=30))
        await looked(1)
        rig.dispatcher.deadlines_changed()
        await looked(2)
    finally:
        await rig.close()
