"""The accept hooks of OfferService: a platform's own accept runs (and is confirmed)
before the local accept commits; unchosen offers are declined; the caller's token
reaches only the instances whose config asks for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import Field

from ivoa_broker.jobs import OfferConflict, OfferGone
from ivoa_broker.protocol import (
    AdapterConfig,
    CallContext,
    Conflict,
    ExecutionRequest,
    NotFound,
    Offer,
    Secret,
    utcnow,
)
from tests.rig import Rig
from tests.test_offers import ContainerFake, doc, make_rig

#: every test on SQLite and on PostgreSQL (tests/stores.py)
pytestmark = pytest.mark.usefixtures("both_stores")

TOKEN = Secret("caller-token-0123456789")


class ForwardingConfig(AdapterConfig):
    forward_credentials: bool = Field(default=True)


class ConfirmingFake(ContainerFake):
    """Confirms accepts on "its platform" (or refuses with ``refusal``); records what
    it was told, and the credentials each call saw."""

    def __init__(self, name: str, cost: float = 1.0, forward: bool = False) -> None:
        super().__init__(name, cost)
        if forward:
            self.config = ForwardingConfig()
        self.refusal: Exception | None = None
        self.during_accept: Callable[[Offer, ExecutionRequest], Awaitable[None]] | None = None
        self.confirmed: list[tuple[Offer, ExecutionRequest]] = []
        self.declined: list[Offer] = []
        self.any_decline = asyncio.Event()
        self.seen: dict[str, Secret | None] = {}
        self.submitted_offers: list[Offer] = []

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        self.seen["offers"] = ctx.credentials
        return await super().offers(request, ctx)

    async def accept_offer(
        self, offer: Offer, request: ExecutionRequest, ctx: CallContext
    ) -> Offer:
        self.seen["accept_offer"] = ctx.credentials
        if self.during_accept is not None:
            await self.during_accept(offer, request)
        if self.refusal is not None:
            raise self.refusal
        self.confirmed.append((offer, request))
        return replace(offer, terms={**offer.terms, "remote": f"session-of-{request.job_id}"})

    async def reject_offer(self, offer: Offer, ctx: CallContext) -> None:
        self.declined.append(offer)
        self.any_decline.set()

    async def submit(self, request, offer, ctx):  # type: ignore[no-untyped-def]
        self.submitted_offers.append(offer)
        return await super().submit(request, offer, ctx)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(tmp_path, [ConfirmingFake("near", 1), ConfirmingFake("far", 5)])
    yield r
    await r.close()


def fake(rig: Rig, name: str) -> ConfirmingFake:
    adapter = rig.adapters[name]
    assert isinstance(adapter, ConfirmingFake)
    return adapter


async def test_the_platform_confirms_before_the_local_commit(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    best, other = view.offers
    near = fake(rig, "near")
    phases_seen: list[str] = []

    async def look(offer: Offer, request: ExecutionRequest) -> None:
        row = await rig.store.get_offer(best.offer_id)
        assert row is not None
        phases_seen.append(row.phase)
        assert await rig.store.get(best.offer_id) is None

    near.during_accept = look
    job = await rig.offers.accept(best.offer_id, "alice")
    assert phases_seen == ["OFFERED"]  # nothing committed while the platform confirmed
    assert [r.job_id for _, r in near.confirmed] == [job.job_id]
    await asyncio.wait_for(near.any_submit.wait(), 5)
    # submit gets the offer as the platform confirmed it
    assert near.submitted_offers[0].terms["remote"] == f"session-of-{job.job_id}"
    # the unchosen sibling's platform is told
    far = fake(rig, "far")
    await asyncio.wait_for(far.any_decline.wait(), 5)
    assert [o.offer_id for o in far.declined] == [Offer.from_json(other.offer).offer_id]
    assert not near.declined


async def test_a_refused_platform_accept_commits_nothing_and_loses_no_sibling(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    best, other = view.offers
    fake(rig, "near").refusal = Conflict("the remote offer was taken by someone else")
    with pytest.raises(OfferConflict) as err:
        await rig.offers.accept(best.offer_id, "alice")
    assert err.value.status == 409
    assert "taken by someone else" in err.value.message
    rows = {o.offer_id: o.phase for o in await rig.store.offers_of(view.offerset.offerset_id)}
    assert rows == {best.offer_id: "OFFERED", other.offer_id: "OFFERED"}
    assert await rig.store.count() == 0
    # the sibling is still there to be accepted
    job = await rig.offers.accept(other.offer_id, "alice")
    assert job.parameter_values("platform") == ["far"]


async def test_a_platform_offer_gone_is_410(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    fake(rig, "near").refusal = NotFound("the remote offer expired")
    with pytest.raises(OfferGone) as err:
        await rig.offers.accept(view.offers[0].offer_id, "alice")
    assert err.value.status == 410
    assert "expired" in err.value.message
    assert await rig.store.count() == 0


async def test_a_local_commit_that_fails_after_the_confirm_is_undone(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    best = view.offers[0]
    near = fake(rig, "near")

    async def lose_the_race(offer: Offer, request: ExecutionRequest) -> None:
        await rig.store.reject_offer(best.offer_id, utcnow())  # as if rejected meanwhile

    near.during_accept = lose_the_race
    with pytest.raises(OfferConflict):
        await rig.offers.accept(best.offer_id, "alice")
    await asyncio.wait_for(near.any_decline.wait(), 5)
    assert near.declined[0].terms["remote"] == f"session-of-{best.offer_id}"
    assert await rig.store.count() == 0


async def test_a_client_reject_is_passed_on(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    await rig.offers.reject(view.offers[1].offer_id, "alice")
    far = fake(rig, "far")
    await asyncio.wait_for(far.any_decline.wait(), 5)
    assert len(far.declined) == 1


async def test_concurrent_accepts_confirm_one_platform_only(rig: Rig) -> None:
    view = await rig.offers.request("alice", doc())
    outcomes = await asyncio.gather(
        *(rig.offers.accept(o.offer_id, "alice") for o in view.offers for _ in range(2)),
        return_exceptions=True,
    )
    winners = {o.job_id for o in outcomes if not isinstance(o, BaseException)}
    assert len(winners) == 1
    confirmed = len(fake(rig, "near").confirmed) + len(fake(rig, "far").confirmed)
    assert confirmed == 1


async def test_the_callers_token_reaches_only_instances_that_ask(tmp_path: Path) -> None:
    forwarding, plain = ConfirmingFake("fwd", 1, forward=True), ConfirmingFake("plain", 5)
    rig = await make_rig(tmp_path, [forwarding, plain])
    try:
        view = await rig.offers.request("alice", doc(), credentials=TOKEN)
        assert forwarding.seen["offers"] == TOKEN
        assert plain.seen["offers"] is None
        fwd_offer = next(o for o in view.offers if Offer.from_json(o.offer).adapter == "fwd")
        await rig.offers.accept(fwd_offer.offer_id, "alice", TOKEN)
        assert forwarding.seen["accept_offer"] == TOKEN
        assert TOKEN.reveal() not in repr(forwarding.seen)
    finally:
        await rig.close()
