"""The adapter's own behaviour on the emulator + real hub: the endpoint serves, a
dropped stream is resumed, cancel during a build, build failure log, offers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from binder_support import adapter_config
from ivoa_broker_binderhub import BinderHubAdapter
from ivoa_broker_binderhub.emulator import BinderEmulator
from ivoa_broker_jupyterhub.client import HubClient
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    EndReason,
    ExecutionRequest,
    Phase,
)
from ivoa_broker.testing import WakeSignal, wait_for_phase

CTX = CallContext(owner="alice", request_id="t")


@pytest.fixture
async def binder(binder_url: str, hub: LocalHub, tmp_path: Path) -> AsyncIterator[BinderHubAdapter]:
    wake = WakeSignal()
    deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
    async with BinderHubAdapter("binder", adapter_config(binder_url, hub), deps) as adapter:
        yield adapter


def _req(job: str, repo: Path, ref: str = "main") -> ExecutionRequest:
    return ExecutionRequest(
        job_id=job,
        owner="alice",
        kind="interactive",
        extensions={"binder.repo": str(repo), "binder.ref": ref},
    )


async def _start(binder: BinderHubAdapter, request: ExecutionRequest):  # type: ignore[no-untyped-def]
    (offer,) = await binder.offers(request, CTX)
    return await binder.submit(request, offer, CTX)


async def test_ready_endpoint_serves_with_its_token_and_cancel_stops_it(
    binder: BinderHubAdapter, repos: dict[str, Path], hub: LocalHub
) -> None:
    handle = await _start(binder, _req("serve-1", repos["session"], "serve"))
    history = await wait_for_phase(binder, handle, {Phase.EXECUTING}, ctx=CTX, max_wait=120)
    assert history[-1].phase == Phase.EXECUTING
    while (status := await binder.status(handle, CTX)).endpoint is None:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    assert status.endpoint is not None
    url = httpx.URL(status.endpoint)
    token = url.params["token"]
    base = str(url.copy_with(query=None))
    async with httpx.AsyncClient(timeout=60) as http:
        served = await http.get(f"{base}api/status", headers={"Authorization": f"token {token}"})
        assert served.status_code == 200
        assert (await http.get(f"{base}api/status")).status_code in (302, 401, 403)
    assert "build stream" not in (await binder.logs(handle, CTX))
    await binder.cancel(handle, CTX)
    final = await wait_for_phase(binder, handle, {Phase.ABORTED}, ctx=CTX, max_wait=60)
    assert final[-1].phase == Phase.ABORTED
    # BinderHub launched it as a temporary user (authentication off): cleanup deletes it
    user = base.rstrip("/").rsplit("/", 1)[-1]
    assert base == f"{hub.url}/user/{user}/"
    async with HubClient(hub.url, hub.token) as client:
        assert await client.user(user) is not None
        await binder.cleanup(handle, CTX)
        assert await client.user(user) is None


async def test_dropped_stream_is_resumed(
    binder: BinderHubAdapter, repos: dict[str, Path], emulator: BinderEmulator
) -> None:
    emulator.drop_next = 1
    handle = await _start(binder, _req("drop-1", repos["short"], "drop"))
    history = await wait_for_phase(binder, handle, {Phase.COMPLETED}, ctx=CTX, max_wait=120)
    assert emulator.drop_next == 0
    assert any(s.endpoint for s in history) or history[-1].phase == Phase.COMPLETED
    await binder.cleanup(handle, CTX)


async def test_cancel_during_build(
    binder: BinderHubAdapter, repos: dict[str, Path], emulator: BinderEmulator
) -> None:
    launched = len(emulator.launched)
    handle = await _start(binder, _req("cancel-1", repos["session"], "cancel"))
    await wait_for_phase(binder, handle, {Phase.QUEUED}, ctx=CTX, max_wait=60)
    await binder.cancel(handle, CTX)
    status = await binder.status(handle, CTX)
    assert status.phase == Phase.ABORTED
    await binder.cleanup(handle, CTX)
    await binder.cleanup(handle, CTX)
    assert len(emulator.launched) == launched


async def test_build_failure_has_log_tail_and_reason(
    binder: BinderHubAdapter, repos: dict[str, Path]
) -> None:
    handle = await _start(binder, _req("fail-1", repos["broken"]))
    history = await wait_for_phase(binder, handle, {Phase.ERROR}, ctx=CTX, max_wait=60)
    final = history[-1]
    assert final.reason == EndReason.BUILD_FAILED
    assert final.message is not None and "ERROR: no environment.yml" in final.message
    await binder.cleanup(handle, CTX)


async def test_unhealthy_binderhub_makes_no_offer(
    binder: BinderHubAdapter, repos: dict[str, Path], emulator: BinderEmulator
) -> None:
    emulator.healthy = False
    try:
        health = await binder.health()
        assert not health.ok and "JupyterHub API" in health.message
        assert await binder.offers(_req("h-1", repos["session"]), CTX) == []
    finally:
        emulator.healthy = True
    assert await binder.offers(_req("h-2", repos["session"]), CTX)


def test_provider_not_enabled_is_refused(binder: BinderHubAdapter) -> None:
    request = ExecutionRequest(
        job_id="z",
        kind="interactive",
        extensions={"binder.repo": "10.5281/zenodo.1", "binder.provider": "zenodo"},
    )
    assert binder.explain_refusal(request) is None
    request = ExecutionRequest(
        job_id="z", kind="interactive", extensions={"binder.repo": "x", "binder.provider": "svn"}
    )
    assert "svn" in (binder.explain_refusal(request) or "")


async def test_a_build_stream_refused_for_a_while_is_retried(
    binder: BinderHubAdapter, repos: dict[str, Path], emulator: BinderEmulator
) -> None:
    emulator.faults.fail_next(503, count=2, prefix="/build/")
    emulator.faults.drop_next(prefix="/build/")
    handle = await _start(binder, _req("retry-1", repos["short"], "retry"))
    history = await wait_for_phase(binder, handle, {Phase.COMPLETED}, ctx=CTX, max_wait=120)
    assert emulator.faults.pending == 0
    assert history[-1].phase == Phase.COMPLETED
    await binder.cleanup(handle, CTX)


async def test_a_build_stream_refused_for_good_fails_the_job_with_the_reason(
    binder: BinderHubAdapter, repos: dict[str, Path], emulator: BinderEmulator
) -> None:
    emulator.faults.fail_next(403, prefix="/build/", body="<html>403: Forbidden</html>")
    launched = len(emulator.launched)
    handle = await _start(binder, _req("refused-1", repos["session"], "refused"))
    history = await wait_for_phase(binder, handle, {Phase.ERROR}, ctx=CTX, max_wait=60)
    assert history[-1].message is not None and "403" in history[-1].message
    assert len(emulator.launched) == launched
    await binder.cleanup(handle, CTX)
