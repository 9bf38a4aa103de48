"""OfferService (offer sets, accept/reject/cancel/extend, expiry) against fake platforms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ivoa_broker.eb.convert import to_execution_request
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.formats import load_request
from ivoa_broker.errors import JobNotFound
from ivoa_broker.jobs import OfferConflict, OfferGone
from ivoa_broker.offers import request_parameters
from ivoa_broker.protocol import (
    CallContext,
    Capabilities,
    ExecutionRequest,
    Handle,
    Offer,
    Phase,
    Resources,
    utcnow,
)
from ivoa_broker.task_params import parse_request
from tests.fakes import FakeAdapter
from tests.rig import Rig
from tests.rig import make_rig as _make_rig

# every rig of these tests runs on SQLite and on PostgreSQL (tests/stores.py)
pytestmark = pytest.mark.usefixtures("both_stores")

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
CONTAINER = f"""\
executable:
  kind: {K}executable/docker-container.yaml
  image: {{locations: [docker.io/library/python:3.12]}}
  command: [python3, -c, "print(42)"]
  environment: {{MODE: fast}}
compute:
  kind: {K}compute/simple-compute-resource.yaml
  cores: {{min: 2, max: 4}}
  memory: {{min: 1, max: 2}}
data:
  - kind: {K}data/simple-data-resource.yaml
    meta: {{name: input}}
    location: https://example.org/data.fits
schedule:
  requested: {{duration: PT1H}}
""".encode()


class ContainerFake(FakeAdapter):
    """Runs containers; offers one best-effort slot now (cost 1, or ``cost``)."""

    capabilities = Capabilities(results=True, adopt=True, images=True)

    def __init__(self, name: str, cost: float = 1.0) -> None:
        super().__init__(name)
        self.cost = cost

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        return [
            Offer(
                self.name,
                f"{self.name}-1",
                f"{self.name} now",
                Resources(cores=2, walltime_seconds=3600),
                start=utcnow(),
                cost={"money": self.cost},
            )
        ]


class SlowFake(ContainerFake):
    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        await asyncio.Event().wait()  # never answers: only the deadline ends it
        return []


class BrokenFake(ContainerFake):
    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        raise RuntimeError("offers exploded")


async def make_rig(path: Path, adapters: list[FakeAdapter], **jobs: Any) -> Rig:
    return await _make_rig(path, adapters, **{"offer_deadline": 0.5, **jobs})


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(
        tmp_path,
        [ContainerFake("cheap", 1), ContainerFake("dear", 5), SlowFake("slow"), BrokenFake("bad")],
    )
    yield r
    await r.dispatcher.close()
    await r.store.close()


def doc() -> Any:
    return load_request(CONTAINER, "application/yaml")


async def test_fan_out_names_slow_and_broken_platforms(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    assert [Offer.from_json(o.offer).adapter for o in view.offers] == ["cheap", "dear"]
    assert all(o.phase == "OFFERED" for o in view.offers)
    messages = {m["platform"]: m["text"] for m in view.offerset.messages}
    assert set(messages) == {"slow", "bad"}
    assert "did not answer within 0.5 s" in messages["slow"]
    assert "RuntimeError" in messages["bad"]
    stored = await rig.offers.offerset(view.offerset.offerset_id, "alice")
    assert [o.offer_id for o in stored.offers] == [o.offer_id for o in view.offers]
    with pytest.raises(JobNotFound):
        await rig.offers.offerset(view.offerset.offerset_id, "mallory")


async def test_expiry_is_the_ttl_and_in_the_next_deadline(rig: Rig) -> None:
    before = utcnow()
    view = await rig.offers.request("alice", doc())
    ttl = timedelta(seconds=rig.offers.settings.offer_ttl)
    for row in view.offers:
        assert before + ttl <= row.expires <= utcnow() + ttl
    deadline = await rig.store.next_deadline()
    assert deadline is not None
    assert deadline <= view.offers[0].expires


async def test_accept_creates_the_job_and_rejects_siblings(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    best, other = view.offers
    job = await rig.offers.accept(best.offer_id, "alice")
    assert job.job_id == best.offer_id
    assert job.owner == "alice"
    rows = {o.offer_id: o.phase for o in await rig.store.offers_of(view.offerset.offerset_id)}
    assert rows == {best.offer_id: "ACCEPTED", other.offer_id: "REJECTED"}
    assert job.parameter_values("platform") == ["cheap"]
    cheap = rig.adapters["cheap"]
    await asyncio.wait_for(cheap.any_submit.wait(), 5)
    submitted = cheap.submitted[0]
    assert submitted.job_id == job.job_id
    assert submitted.command == ("python3", "-c", "print(42)")
    assert submitted.resources.cores == 2
    assert not rig.adapters["dear"].submitted
    again = await rig.offers.accept(best.offer_id, "alice")
    assert again.job_id == job.job_id
    with pytest.raises(OfferConflict) as err:
        await rig.offers.accept(other.offer_id, "alice")
    assert err.value.status == 409


async def test_concurrent_accepts_exactly_one_wins(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    outcomes = await asyncio.gather(
        *(rig.offers.accept(o.offer_id, "alice") for o in view.offers for _ in range(3)),
        return_exceptions=True,
    )
    winners = {o.job_id for o in outcomes if not isinstance(o, BaseException)}
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 3
    assert all(isinstance(e, OfferConflict) and e.status == 409 for e in losers)
    assert await rig.store.count() == 1


async def test_reject_then_accept_is_a_conflict(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    await rig.offers.reject(view.offers[0].offer_id, "alice")
    await rig.offers.reject(view.offers[0].offer_id, "alice")  # idempotent
    with pytest.raises(OfferConflict):
        await rig.offers.accept(view.offers[0].offer_id, "alice")
    with pytest.raises(JobNotFound):
        await rig.offers.reject(view.offers[1].offer_id, "mallory")


async def test_reaper_expires_offers_and_accept_is_gone(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, [ContainerFake("cheap")], offer_ttl=0.2)
    try:
        expired = rig.dispatcher.offers_expired
        view = await rig.offers.request("alice", doc())
        await asyncio.wait_for(expired.wait(), 10)
        row = await rig.store.get_offer(view.offers[0].offer_id)
        assert row is not None
        assert row.phase == "EXPIRED"
        assert await rig.store.next_deadline() is None
        with pytest.raises(OfferGone) as err:
            await rig.offers.accept(row.offer_id, "alice")
        assert err.value.status == 410
        assert await rig.store.count() == 0
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


async def test_accept_after_expiry_before_the_reaper_is_gone(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    job = await rig.jobs.create("alice", [])  # any job row: the accept must not touch it
    later = utcnow() + timedelta(seconds=rig.offers.settings.offer_ttl + 1)
    assert await rig.store.accept_offer(view.offers[0].offer_id, job, later) == "EXPIRED"
    assert await rig.store.count() == 1


async def test_session_runs_to_completion_with_results(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    job = await rig.offers.accept(view.offers[0].offer_id, "alice")
    cheap = rig.adapters["cheap"]
    await asyncio.wait_for(cheap.any_submit.wait(), 5)
    await rig.settle(job.job_id, Phase.QUEUED)
    cheap.set(f"n-{job.job_id}", "running")
    await rig.settle(job.job_id, Phase.EXECUTING)
    cheap.set(f"n-{job.job_id}", "done", 0)
    await rig.settle(job.job_id, Phase.COMPLETED)
    session = await rig.offers.session(job.job_id, "alice")
    assert session.job is not None
    assert [r.id for r in session.job.results] == ["out"]
    assert session.offer is not None
    assert session.offer.phase == "ACCEPTED"


async def test_cancel_is_releasing_until_the_platform_confirms(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    job = await rig.offers.accept(view.offers[0].offer_id, "alice")
    cheap = rig.adapters["cheap"]
    await asyncio.wait_for(cheap.any_submit.wait(), 5)
    cheap.native[f"n-{job.job_id}"] = "running"
    await rig.offers.cancel(job.job_id, "alice")
    aborted = await rig.store.get(job.job_id)
    assert aborted is not None
    assert aborted.phase is Phase.ABORTED
    assert cheap.cancelled == [f"n-{job.job_id}"]
    # the poller sees the platform's "killed" and records that resources are free
    await rig.until(job.job_id, lambda j: j.released is not None, "released")
    await rig.offers.cancel(job.job_id, "alice")  # again: nothing to do


async def test_extend_adds_to_the_execution_duration(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    job = await rig.offers.accept(view.offers[0].offer_id, "alice")
    assert job.execution_duration == 3600
    assert await rig.offers.extend(job.job_id, "alice", 600) == 4200
    with pytest.raises(OfferConflict):
        await rig.offers.extend(view.offers[1].offer_id, "alice", 600)
    with pytest.raises(DocumentError):
        await rig.offers.extend(job.job_id, "alice", -5000)


async def test_direct_accepts_the_best_offer(rig: Rig) -> None:
    job = await rig.offers.direct("alice", doc())
    assert job.parameter_values("platform") == ["cheap"]
    assert job.phase is Phase.QUEUED


async def test_direct_without_offers_names_the_reasons(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, [FakeAdapter("plain")])
    try:
        with pytest.raises(DocumentError) as err:
            await rig.offers.direct("alice", doc())
        assert err.value.status == 422
        assert "plain: cannot run container images" in err.value.detail
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


class ExplainingFake(FakeAdapter):
    """Runs no images, and says why in its own words (the local platform does)."""

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        return f"no engine here for {request.image}; install one" if request.image else None


async def test_an_image_refusal_is_in_the_platforms_own_words(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, [ExplainingFake("own"), FakeAdapter("plain")])
    try:
        with pytest.raises(DocumentError) as err:
            await rig.offers.direct("alice", doc())
        detail = err.value.detail
        assert "own: no engine here for docker.io/library/python:3.12; install one" in detail
        assert "plain: cannot run container images" in detail  # it says nothing itself
    finally:
        await rig.dispatcher.close()
        await rig.store.close()


def test_parameters_give_back_the_same_request() -> None:
    request = to_execution_request(doc(), job_id="j", owner="alice")
    params = request_parameters(request, "cheap")
    again = parse_request("j", "alice", params, ["cheap"])
    assert again.platform == "cheap"
    assert again.command == request.command
    assert again.image == request.image
    assert again.env == request.env
    assert again.resources == request.resources
    assert again.inputs == request.inputs
    assert again.extensions == request.extensions


class StubbornFake(ContainerFake):
    """Its tasks outlive a cancel until the test kills them."""

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        self.cancelled.append(handle.native_id)


async def test_a_restart_keeps_watching_a_releasing_session(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, [StubbornFake("slowpoke")])
    view = await rig.offers.request("alice", doc())
    job = await rig.offers.accept(view.offers[0].offer_id, "alice")
    await asyncio.wait_for(rig.adapters["slowpoke"].any_submit.wait(), 5)
    native = f"n-{job.job_id}"
    rig.adapters["slowpoke"].native[native] = "running"
    await rig.offers.cancel(job.job_id, "alice")
    await rig.dispatcher.close()
    await rig.store.close()
    # a new broker over the same store: the platform still runs the task
    platform = StubbornFake("slowpoke")
    platform.native[native] = "running"
    again = await make_rig(tmp_path, [platform])
    try:
        aborted = await again.store.get(job.job_id)
        assert aborted is not None
        assert aborted.phase is Phase.ABORTED
        assert aborted.released is None
        platform.set(native, "killed")
        await again.until(job.job_id, lambda j: j.released is not None, "released")
    finally:
        await again.dispatcher.close()
        await again.store.close()
