"""The event stream against BinderHub's own recorded one (``fixtures/fullbuild.eventsource``,
jupyterhub/binderhub ``b9fad995``): the emulator speaks the same format, and the
adapter's client and event reading handle the real thing (events without a phase,
``unknown`` phases, messages without a newline, the ready event's keys)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from binder_support import BINDER_TOKEN, adapter_config
from ivoa_broker_binderhub import BinderHubAdapter
from ivoa_broker_binderhub._client import BinderClient
from ivoa_broker_binderhub._records import Record
from ivoa_broker_binderhub.emulator import BINDERHUB_COMMIT
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.protocol import AdapterDeps, CallContext, Phase, Secret

FIXTURE = Path(__file__).parent / "fixtures" / "fullbuild.eventsource"
#: BinderHub's documented phases (docs/source/api.rst), in their order
ORDER = ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"]


def recorded() -> list[dict[str, Any]]:
    events = []
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("data:"):
            events.append(json.loads(line.removeprefix("data:")))
    return events


def as_sse(events: list[dict[str, Any]]) -> bytes:
    """The recorded events as BinderHub sends them on the wire (a blank line each,
    with a heartbeat comment as BinderHub sends every 30 s)."""
    body = ":heartbeat\n\n" + "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return body.encode()


def phases_in_order(events: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for event in events:
        phase = event.get("phase")
        if phase in ORDER and (not seen or seen[-1] != phase):
            seen.append(phase)
    return seen


def test_the_fixture_is_the_commit_the_emulator_follows() -> None:
    assert BINDERHUB_COMMIT.startswith("b9fad995")
    events = recorded()
    assert len(events) > 700
    assert events[-1]["phase"] == "ready"


async def test_the_emulator_speaks_binderhubs_event_format(
    binder_url: str, repos: dict[str, Path]
) -> None:
    """One real build-and-launch on the emulator, compared with the recording: the
    same phases in the same order (the emulator pushes, the recording found its image
    cached), every event a ``phase`` and ``message``, and a ready event with exactly
    the recording's keys, in its order."""
    theirs = recorded()
    client = BinderClient(binder_url, Secret(BINDER_TOKEN))
    try:
        # a ref of its own: a build, not the cached image of another test's
        path = f"git/{str(repos['short']).replace('/', '%2F')}/events-{uuid.uuid4().hex[:8]}"
        ours = [dict(e) async for e in client.build(path)]
    finally:
        await client.aclose()
    assert phases_in_order(ours) == ORDER
    assert [p for p in phases_in_order(theirs) if p != "pushing"] == [
        p for p in ORDER if p != "pushing"
    ]
    documented = {"phase", "message", "imageName", "progress"}
    for event in ours[:-1]:
        assert {"phase", "message"} <= set(event) <= documented, event
        assert event["message"].endswith("\n")
    # BinderHub at this commit adds binder_client_ip (builder.py line 744); the recording
    # is older
    assert [k for k in ours[-1] if k != "binder_client_ip"] == list(theirs[-1])
    assert "binder_client_ip" in ours[-1]
    assert ours[-1]["url"].endswith("/") and ours[-1]["token"]
    assert theirs[-2]["message"].startswith("Server ready at /user/")
    assert ours[-2]["message"].startswith("Server ready at /user/")


@pytest.fixture
async def adapter(
    binder_url: str, hub: LocalHub, tmp_path: Path
) -> AsyncIterator[BinderHubAdapter]:
    deps = AdapterDeps(data_dir=tmp_path / "data")
    async with BinderHubAdapter("binder", adapter_config(binder_url, hub), deps) as adapter:
        yield adapter


async def test_the_client_reads_binderhubs_own_stream(adapter: BinderHubAdapter) -> None:
    events = recorded()

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"token {BINDER_TOKEN}"
        return httpx.Response(
            200, content=as_sse(events), headers={"content-type": "text/event-stream"}
        )

    client = BinderClient(
        "http://binder.test", Secret(BINDER_TOKEN), transport=httpx.MockTransport(answer)
    )
    try:
        got = [dict(e) async for e in client.build("gh/binder-examples/octave/HEAD")]
    finally:
        await client.aclose()
    assert got == events


async def test_the_adapter_follows_binderhubs_own_stream_to_ready(
    adapter: BinderHubAdapter,
) -> None:
    """Applied to the recorded events, the job goes QUEUED -> EXECUTING with the
    endpoint BinderHub named (its user, default server) and its token."""
    native = "binder-recorded"
    record = Record(job_id="recorded", path="gh/binder-examples/octave/HEAD", submitted_at="x")
    adapter._store.save(native, record)
    ctx = CallContext(owner="alice")
    phases = []
    for event in recorded():
        ended = await adapter._apply(native, record, event)
        phases.append(adapter._status(native, record, ctx).phase)
        if ended:
            break
    assert phases[0] is Phase.QUEUED
    assert phases[-1] is Phase.EXECUTING
    assert record.phase == "ready"
    assert (record.server_user, record.server_name) == ("binder-examples-octave-3ilc7xl2", "")
    # that user is not on this hub: the tag could not be written, the next poll retries it
    assert not record.tagged
    status = adapter._status(native, record, ctx)
    assert status.endpoint == (
        "http://192.168.105.2:30902/user/binder-examples-octave-3ilc7xl2/?token=tY_U1yMSSeKyCKPMg6GVIg"
    )
    adapter.config = adapter.config.model_copy(update={"endpoint_token_in_url": False})
    assert adapter._status(native, record, ctx).endpoint == (
        "http://192.168.105.2:30902/user/binder-examples-octave-3ilc7xl2/"
    )
    assert record.log[-2] == "Server ready at /user/binder-examples-octave-3ilc7xl2/"
