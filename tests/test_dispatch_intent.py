"""The launch intent: a broker that dies after a platform accepted a submit but before
the Handle was stored resumes the job on that platform, never on another.

The first broker (a rig) is cut off between ``submit`` and ``record_submitted``: its
platform ``a`` queues the task and never answers, and the rig is closed (its launch
task cancelled) as a killed process would leave it. A second broker on the same
store and the same platform state then recovers. By then another platform ranks
first for new launches, so a relaunch from scratch would go there: the job must
not. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from ivoa_broker.protocol import (
    CallContext,
    Capabilities,
    ExecutionRequest,
    Handle,
    NoCapacity,
    Offer,
    Phase,
    Resources,
    utcnow,
)
from ivoa_broker.records import Parameter
from ivoa_broker.store import JobStore
from tests.fakes import FakeAdapter
from tests.rig import Rig, make_rig

pytestmark = pytest.mark.usefixtures("both_stores")

ECHO = [Parameter("cmd", "echo"), Parameter("args", "hi")]
#: a hang guard, not a timed assertion
GUARD = 10.0


class Platform(FakeAdapter):
    """A fake platform whose offers start ``later`` (ranked behind the others), and
    whose submit, while ``cut``, queues the task and then never answers."""

    plugin = "intent"

    def __init__(self, name: str, *, later: bool = False, adopt: bool = True) -> None:
        super().__init__(name)
        self.capabilities = Capabilities(results=True, adopt=adopt, images=True)
        self.later = later
        self.cut = False
        self.listed = 0
        self.made = 0
        self.taken: list[Offer] = []  # the offers submits were made with

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        start = utcnow() + timedelta(hours=1 if self.later else 0)
        self.made += 1
        offer_id = f"{self.name}-{self.made}"
        return [Offer(self.name, offer_id, "fake", Resources(cores=1), start=start)]

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        self.taken.append(offer)
        handle = await super().submit(request, offer, ctx)
        if self.cut:
            await asyncio.Event().wait()  # the answer is lost with the broker
        return handle

    async def list_native(self, ctx: CallContext) -> dict[str, str]:
        if ctx.request_id:  # looking for one job's task (not the start-up sweep)
            self.listed += 1
        return dict(await super().list_native(ctx))


async def cut_short(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A job whose submit reached platform ``a`` (first choice) when the broker died;
    its id and ``a``'s native state (which outlives the broker)."""
    a, b = Platform("a"), Platform("b", later=True)
    a.cut = True
    rig = await make_rig(tmp_path, [a, b])
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await asyncio.wait_for(a.any_submit.wait(), GUARD)
    finally:
        await rig.close()  # killed: the launch is cancelled before the Handle is stored
    assert b.submitted == []
    assert list(a.native) == [f"n-{job.job_id}"]
    return job.job_id, a.native


async def restart(tmp_path: Path, *platforms: Platform) -> Rig:
    rig = await make_rig(tmp_path, list(platforms))
    for job_id in list(rig.dispatcher._launching):
        await asyncio.wait_for(rig.dispatcher.launched(job_id), GUARD)
    return rig


async def test_the_intent_is_stored_before_submit(tmp_path: Path) -> None:
    job_id, _ = await cut_short(tmp_path)
    store = await reopen(tmp_path)
    try:
        intent = await store.intent_of(job_id)
        assert await store.handle_of(job_id) == (None, None)
    finally:
        await store.close()
    assert intent is not None
    assert Offer.from_json(json.loads(intent)).adapter == "a"


async def test_recovery_adopts_the_task_on_the_same_platform(tmp_path: Path) -> None:
    job_id, native = await cut_short(tmp_path)
    a, b = Platform("a", later=True), Platform("b")  # b would win a fresh ranking now
    a.native = native
    rig = await restart(tmp_path, a, b)
    try:
        platform, handle = await rig.store.handle_of(job_id)
        assert platform == "a" and handle is not None
        assert Handle.from_json(handle).native_id == f"n-{job_id}"
        assert b.submitted == [] and b.native == {}
        assert a.listed == 1  # looked for the job's task before anything else
        assert list(a.native) == [f"n-{job_id}"]  # adopted (idempotent submit), not doubled
        job = await rig.store.get(job_id)
        assert job is not None
        assert job.job_info["adopted"] == f"n-{job_id}"
        assert job.job_info["platform"] == "a"
        a.set(f"n-{job_id}", "done", exit_code=0)
        await rig.settle(job_id, Phase.COMPLETED)
    finally:
        await rig.close()


async def test_without_adopt_the_submit_is_repeated_on_that_platform(tmp_path: Path) -> None:
    job_id, native = await cut_short(tmp_path)
    a, b = Platform("a", later=True, adopt=False), Platform("b")
    a.native = native
    rig = await restart(tmp_path, a, b)
    try:
        assert await rig.store.handle_of(job_id) == (
            "a",
            Handle("a", f"n-{job_id}", {"job": job_id}).to_json(),
        )
        assert [r.job_id for r in a.submitted] == [job_id]  # once more, on a only
        assert a.listed == 0
        assert b.submitted == []
        assert list(a.native) == [f"n-{job_id}"]
    finally:
        await rig.close()


async def test_the_intended_platform_gone_is_an_error_not_another_platform(
    tmp_path: Path,
) -> None:
    job_id, _ = await cut_short(tmp_path)
    b = Platform("b")
    rig = await make_rig(tmp_path, [b])
    try:
        job = await rig.settle(job_id, Phase.ERROR)
        assert job.error is not None and "'a'" in job.error.message
        assert b.submitted == []
    finally:
        await rig.close()


async def test_a_task_of_a_job_aborted_meanwhile_is_swept(tmp_path: Path) -> None:
    """Aborted on another replica while the dying one was submitting: the job ended
    without a Handle, so its task on the platform belongs to nobody."""
    job_id, native = await cut_short(tmp_path)
    store = await reopen(tmp_path)
    try:
        assert await store.move(
            job_id, [Phase.QUEUED], Phase.ABORTED, cancel_requested=True, abort_reason="owner"
        )
    finally:
        await store.close()
    a = Platform("a")
    a.native = native
    rig = await make_rig(tmp_path, [a])
    try:
        await asyncio.wait_for(a.any_cleanup.wait(), GUARD)
        assert a.cleaned == [f"n-{job_id}"]
        assert a.submitted == []
        assert (await rig.store.get(job_id)).phase is Phase.ABORTED  # type: ignore[union-attr]
    finally:
        await rig.close()


async def test_an_accepted_offer_not_yet_launched_goes_to_its_platform(tmp_path: Path) -> None:
    """ExecutionBroker: the broker dies right after the accept is committed, before the
    launch began. The accepted offer is the job's intent from the accept's own
    transaction, so the job is submitted with that very offer (a reservation, a
    remote broker's confirmed accept), not with a fresh one."""
    from tests.test_offers import doc

    a, b = Platform("a"), Platform("b", later=True)
    rig = await make_rig(tmp_path, [a, b])
    try:
        view = await rig.offers.request("alice", doc())
        chosen = next(o for o in view.offers if o.offer.get("adapter") == "b")
        rig.dispatcher.start = lambda job_id, offer=None: None  # type: ignore[method-assign]
        job = await rig.offers.accept(chosen.offer_id, "alice")  # then: killed
    finally:
        await rig.close()
    assert a.submitted == [] and b.submitted == []
    a2, b2 = Platform("a"), Platform("b", later=True)  # a ranks first for fresh offers
    rig = await restart(tmp_path, a2, b2)
    try:
        platform, _ = await rig.store.handle_of(job.job_id)
        assert platform == "b"
        assert [r.job_id for r in b2.submitted] == [job.job_id]
        assert [o.offer_id for o in b2.taken] == [chosen.offer["offer_id"]]
        assert b2.made == 0  # no fresh offers asked for
        assert a2.submitted == []
    finally:
        await rig.close()


class SlowOffers(Platform):
    """Offers only once ``go`` is set (the launch is held between offers and submit)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.asked = asyncio.Event()
        self.go = asyncio.Event()

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        self.asked.set()
        await self.go.wait()
        return await super().offers(request, ctx)


async def test_a_job_aborted_elsewhere_before_the_submit_is_not_submitted(
    tmp_path: Path,
) -> None:
    """The intent is a compare-and-set on QUEUED: a job another replica aborted while
    this one gathered offers never reaches a platform."""
    slow = SlowOffers("slow")
    rig = await make_rig(tmp_path, [slow])
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await asyncio.wait_for(slow.asked.wait(), GUARD)
        assert await rig.store.move(
            job.job_id, [Phase.QUEUED], Phase.ABORTED, cancel_requested=True, abort_reason="x"
        )  # as another replica's abort writes it
        slow.go.set()
        await asyncio.wait_for(rig.dispatcher.launched(job.job_id), GUARD)
        assert slow.submitted == [] and slow.native == {}
        assert await rig.store.intent_of(job.job_id) is None
    finally:
        await rig.close()


class Full(Platform):
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        raise NoCapacity("no free slot")


async def test_a_refused_submit_clears_the_intent(tmp_path: Path) -> None:
    """NoCapacity: nothing remains on the platform, so the job is not pinned to it."""
    rig = await make_rig(tmp_path, [Full("full")])
    try:
        job = await rig.jobs.create("alice", ECHO, run=True)
        await rig.dispatcher.launched(job.job_id)
        await rig.until(job.job_id, lambda j: "queue_position" in j.job_info, "queued")
        assert await rig.store.intent_of(job.job_id) is None
    finally:
        await rig.close()


async def reopen(tmp_path: Path) -> JobStore:
    from tests import rig

    return await JobStore.open(rig.DEFAULT_STORE or tmp_path / "jobs.db")
