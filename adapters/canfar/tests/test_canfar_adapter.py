"""The CANFAR adapter end to end against the skaha emulator over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from canfar_support import NOTEBOOK, TERMINAL, config_for
from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar._client import SkahaClient
from ivoa_broker_canfar._mapping import GIB
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator

from ivoa_broker.protocol import (
    AdapterDeps,
    AuthError,
    CallContext,
    ExecutionRequest,
    FatalError,
    Handle,
    InvalidRequest,
    Phase,
    Resources,
    Secret,
    Status,
    TransientError,
)
from ivoa_broker.testing import TERMINAL as ENDED
from ivoa_broker.testing import new_job_id, wait_for_phase

SESSION = "/skaha/v1/session"
WAIT = 30.0


def batch(*command: str, **kw: object) -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id("t"), command=command, **kw)  # type: ignore[arg-type]


async def run(adapter: CanfarAdapter, request: ExecutionRequest, ctx: CallContext) -> Handle:
    offers = await adapter.offers(request, ctx)
    assert len(offers) == 1
    return await adapter.submit(request, offers[0], ctx)


async def wait(
    adapter: CanfarAdapter, handle: Handle, ctx: CallContext, *phases: Phase
) -> list[Status]:
    return await wait_for_phase(
        adapter, handle, phases or ENDED, ctx=ctx, max_wait=WAIT, interval=0.05
    )


# ---------------------------------------------------------------------- headless


async def test_headless_job_runs_with_env_args_and_rounded_resources(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    request = batch(
        "sh",
        "-c",
        "echo${IFS}$GREETING;echo${IFS}to-stderr>&2",
        env={"GREETING": "bonjour"},
        resources=Resources(cores=1.5, memory_bytes=3 * GIB),
    )
    [offer] = await canfar.offers(request, call)
    assert offer.reserved is False
    assert offer.resources.cores == 2.0
    assert offer.resources.memory_bytes == 4 * GIB
    assert any("cores rounded up from 1.5 to 2" in w for w in offer.warnings)
    assert any("memory rounded up from 3 GiB to 4 GiB" in w for w in offer.warnings)
    handle = await canfar.submit(request, offer, call)
    session = emulator.sessions[handle.native_id]
    assert (session.cores, session.ram, session.type) == (2, 4, "headless")
    assert session.name == f"ivb-{request.job_id}"

    history = await wait(canfar, handle, call)
    assert [s.phase for s in history][-1] == Phase.COMPLETED
    assert history[-1].exit_code == 0
    assert history[-1].native_state == "Succeeded"
    assert history[-1].started_at is not None

    logs = await canfar.logs(handle, call)
    assert "bonjour" in logs
    assert "to-stderr" in logs
    refs = {r.id: r for r in await canfar.results(handle, call)}
    assert set(refs) == {"logs", "events"}
    assert refs["logs"].path is not None
    assert refs["logs"].path.is_relative_to(canfar.deps.data_dir)
    assert "bonjour" in refs["logs"].path.read_text()
    assert refs["logs"].mime_type == "text/plain"
    assert refs["logs"].size == refs["logs"].path.stat().st_size
    assert refs["events"].path is not None
    assert "Completed" in refs["events"].path.read_text()


async def test_failing_job_is_error_with_exit_code_and_reason(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    handle = await run(canfar, batch("sh", "-c", "exit${IFS}7"), call)
    final = (await wait(canfar, handle, call))[-1]
    assert final.phase == Phase.ERROR
    assert final.native_state == "Failed"
    assert final.exit_code == 7
    assert final.message is not None
    assert "container exited with code 7" in final.message
    assert "BackoffLimitExceeded" in final.message


async def test_missing_executable_is_error_with_the_reason(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    handle = await run(canfar, batch("surely-not-a-program-here"), call)
    final = (await wait(canfar, handle, call))[-1]
    assert final.phase == Phase.ERROR
    assert final.message is not None
    assert "surely-not-a-program-here" in final.message


async def test_status_many_makes_one_listing_call_for_all_handles(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    handles = [await run(canfar, batch("sleep", "600"), call) for _ in range(4)]
    await wait(canfar, handles[-1], call, Phase.EXECUTING)
    before = list(emulator.calls)
    found = await canfar.status_many(handles, call)
    made = emulator.calls[len(before) :]
    assert made == [("GET", SESSION)]
    assert set(found) == {h.native_id for h in handles}
    for handle in handles:
        await canfar.cleanup(handle, call)


async def test_status_many_of_nothing_calls_nothing(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    before = len(emulator.calls)
    assert await canfar.status_many([], call) == {}
    assert len(emulator.calls) == before


async def test_vanished_session_is_omitted_unless_cancel_was_asked(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    handle = await run(canfar, batch("sleep", "600"), call)
    await wait(canfar, handle, call, Phase.EXECUTING)
    emulator.remove(handle.native_id)
    assert await canfar.status_many([handle], call) == {}
    stop = dataclasses.replace(handle, cancel_requested=True)
    [status] = (await canfar.status_many([stop], call)).values()
    assert status.phase == Phase.ABORTED


async def test_held_session_is_queued_until_released(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    emulator.hold = True
    handle = await run(canfar, batch("true"), call)
    [status] = (await canfar.status_many([handle], call)).values()
    assert (status.phase, status.native_state) == (Phase.QUEUED, "Pending")
    emulator.release(handle.native_id)
    history = await wait(canfar, handle, call)
    assert history[-1].phase == Phase.COMPLETED


async def test_cancel_then_cleanup_deletes_the_session_and_staged_files(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    handle = await run(canfar, batch("sleep", "600"), call)
    await wait(canfar, handle, call, Phase.EXECUTING)
    staged = await canfar.results(handle, call)
    assert staged
    assert all(r.path is not None and r.path.exists() for r in staged)
    stop = dataclasses.replace(handle, cancel_requested=True)
    await canfar.cancel(stop, call)
    [status] = (await canfar.status_many([stop], call)).values()
    assert status.phase == Phase.ABORTED
    assert status.native_state in ("Terminating", "Deleted")
    await canfar.cleanup(stop, call)
    await canfar.cleanup(stop, call)
    await canfar.cancel(stop, call)  # already gone: fine
    assert handle.native_id not in emulator.native_ids(user[0])
    assert all(r.path is not None and not r.path.exists() for r in staged)


async def test_results_survive_the_session_once_staged(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    handle = await run(canfar, batch("echo", "kept"), call)
    await wait(canfar, handle, call)
    first = await canfar.results(handle, call)
    emulator.remove(handle.native_id)  # purged by Kubernetes
    again = await canfar.results(handle, call)
    assert [r.id for r in again] == [r.id for r in first]
    assert any("kept" in r.path.read_text() for r in again if r.path is not None)


# ---------------------------------------------------------------------- submit


async def test_submit_is_idempotent_per_job_id(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    request = batch("sleep", "600")
    first = await run(canfar, request, call)
    second = await run(canfar, request, call)
    assert second.native_id == first.native_id
    assert emulator.native_ids(user[0]) == {first.native_id}
    await canfar.cleanup(first, call)


async def test_lost_create_answer_is_recovered_by_name(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    call: CallContext,
    emulator: SkahaEmulator,
    user: tuple[str, str],
) -> None:
    config = config_for(skaha.url, token, timeout_seconds=0.5)
    async with CanfarAdapter("c", config, deps) as adapter:
        request = batch("sleep", "600")
        [offer] = await adapter.offers(request, call)
        emulator.faults.slow_next(1.0, method="POST", path=SESSION)
        with pytest.raises(TransientError, match="did not answer POST /v1/session"):
            await adapter.submit(request, offer, call)
        for _ in range(200):  # the slow create completes on the emulator side
            if emulator.native_ids(user[0]):
                break
            await asyncio.sleep(0.02)
        [created] = emulator.native_ids(user[0])
        handle = await adapter.submit(request, offer, call)  # the core's retry
        assert handle.native_id == created
        assert emulator.native_ids(user[0]) == {created}
        await adapter.cleanup(handle, call)


async def test_create_answered_with_garbage_leaves_nothing(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    request = batch("true")
    [offer] = await canfar.offers(request, call)
    emulator.faults.garbage_next(method="POST", path=SESSION)
    with pytest.raises(FatalError, match="unexpected body"):
        await canfar.submit(request, offer, call)
    assert emulator.native_ids(user[0]) == set()


async def test_stale_offer_is_refused(canfar: CanfarAdapter, call: CallContext) -> None:
    request = batch("true", resources=Resources(cores=2))
    [offer] = await canfar.offers(request, call)
    stale = dataclasses.replace(offer, terms={**offer.terms, "cores": 8})
    with pytest.raises(InvalidRequest, match="ask for new offers"):
        await canfar.submit(request, stale, call)


async def test_submit_refuses_what_canfar_cannot_run(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    request = batch("true", resources=Resources(cores=1000))
    assert await canfar.offers(request, call) == []
    [offer] = await canfar.offers(batch("true"), call)
    with pytest.raises(InvalidRequest, match="at most 16"):
        await canfar.submit(request, offer, call)


# ---------------------------------------------------------------------- offers


async def test_offers_are_cheap_thanks_to_the_cache(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    before = emulator.calls_to("GET", "/skaha/v1/context")
    await asyncio.gather(*(canfar.offers(batch("true"), call) for _ in range(5)))
    await canfar.offers(batch("true"), call)
    assert emulator.calls_to("GET", "/skaha/v1/context") - before == 1


async def test_cache_expires(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    call: CallContext,
    emulator: SkahaEmulator,
) -> None:
    async with CanfarAdapter("c", config_for(skaha.url, token, cache_seconds=0), deps) as a:
        before = emulator.calls_to("GET", "/skaha/v1/image")
        await a.offers(batch("true"), call)
        await a.offers(batch("true"), call)
        assert emulator.calls_to("GET", "/skaha/v1/image") - before == 2


async def test_unknown_image_is_refused_with_the_nearest_names(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    request = batch("true", image="images.canfar.net/skaha/terminl:1.1.2")
    with pytest.raises(InvalidRequest, match=f"nearest: {TERMINAL}"):
        await canfar.offers(request, call)


async def test_image_from_elsewhere_gets_no_offer(canfar: CanfarAdapter, call: CallContext) -> None:
    assert await canfar.offers(batch("true", image="docker.io/library/alpine:3"), call) == []


# ------------------------------------------------------------------ interactive


def interactive(**kw: object) -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id("i"), kind="interactive", **kw)  # type: ignore[arg-type]


async def test_notebook_session_reports_its_connect_url_once_running(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    emulator.hold = True
    handle = await run(canfar, interactive(notebook="https://example.org/a.ipynb"), call)
    assert handle.state["type"] == "notebook"
    [queued] = (await canfar.status_many([handle], call)).values()
    assert queued.phase == Phase.QUEUED
    assert queued.endpoint is None
    emulator.release(handle.native_id)
    running = (await wait(canfar, handle, call, Phase.EXECUTING))[-1]
    assert running.endpoint is not None
    assert f"/session/notebook/{handle.native_id}/" in running.endpoint
    async with httpx.AsyncClient() as http:
        assert (await http.get(running.endpoint)).status_code == 200
    await canfar.cleanup(handle, call)


@pytest.mark.parametrize("stype", ["desktop", "carta", "contributed", "firefly"])
async def test_other_interactive_types_from_the_extension(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator, stype: str
) -> None:
    handle = await run(canfar, interactive(extensions={"canfar.type": stype}), call)
    assert emulator.sessions[handle.native_id].type == stype
    running = (await wait(canfar, handle, call, Phase.EXECUTING))[-1]
    assert running.endpoint is not None
    await canfar.cleanup(handle, call)


async def test_renew_extends_the_session(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    handle = await run(canfar, interactive(image=NOTEBOOK), call)
    await wait(canfar, handle, call, Phase.EXECUTING)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    emulator.sessions[handle.native_id].expiry = soon
    expiry = await canfar.renew(handle, soon + timedelta(days=2), call)
    assert expiry is not None
    assert expiry > soon + timedelta(days=1)
    await canfar.cleanup(handle, call)


async def test_expired_interactive_session_is_completed(
    canfar: CanfarAdapter, call: CallContext, emulator: SkahaEmulator
) -> None:
    handle = await run(canfar, interactive(image=NOTEBOOK), call)
    await wait(canfar, handle, call, Phase.EXECUTING)
    emulator.expire(handle.native_id)
    final = (await wait(canfar, handle, call))[-1]
    assert (final.phase, final.native_state) == (Phase.COMPLETED, "Failed")
    assert final.message == "the session reached its expiry time"
    assert final.endpoint is None
    await canfar.cleanup(handle, call)


async def test_cancelled_interactive_session_is_aborted(
    canfar: CanfarAdapter, call: CallContext
) -> None:
    handle = await run(canfar, interactive(image=NOTEBOOK), call)
    await wait(canfar, handle, call, Phase.EXECUTING)
    stop = dataclasses.replace(handle, cancel_requested=True)
    await canfar.cancel(stop, call)
    final = (await wait(canfar, stop, call))[-1]
    assert final.phase == Phase.ABORTED


# ---------------------------------------------------------------------- orphans


async def test_list_native_maps_sessions_to_job_ids_and_ignores_foreign_ones(
    canfar: CanfarAdapter, call: CallContext, token: str, skaha: EmulatorServer
) -> None:
    ours = [batch("sleep", "600"), batch("sleep", "600")]
    ours.append(dataclasses.replace(ours[0], job_id="Upper_Case.Job"))
    handles = [await run(canfar, r, call) for r in ours]
    foreign = SkahaClient(config_for(skaha.url, token))
    try:
        await foreign.create_session(
            {"name": "my-own-session", "image": TERMINAL, "cmd": "sleep", "args": "600"},
            Secret(token),
        )
    finally:
        await foreign.aclose()
    native = await canfar.list_native(call)
    assert native == {h.native_id: r.job_id for h, r in zip(handles, ours, strict=True)}


# ----------------------------------------------------------------- credentials


async def test_delegated_credentials_are_the_callers(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    emulator: SkahaEmulator,
    user: tuple[str, str],
) -> None:
    config = CanfarConfig(url=skaha.url, credentials="delegated", default_image=TERMINAL)
    async with CanfarAdapter("d", config, deps) as adapter:
        with pytest.raises(AuthError, match="carries none"):
            await adapter.offers(batch("true"), CallContext(owner="x"))
        ctx = CallContext(owner="x", credentials=Secret(token))
        handle = await run(adapter, batch("true"), ctx)
        assert emulator.sessions[handle.native_id].userid == user[0]
        health = await adapter.health()
        assert health.ok, health.message


async def test_delegated_or_service_falls_back_to_the_service_token(
    skaha: EmulatorServer,
    token: str,
    deps: AdapterDeps,
    emulator: SkahaEmulator,
) -> None:
    other = "tok-other-user"
    emulator.add_user(other, "someone-else")
    config = config_for(skaha.url, token, credentials="delegated-or-service")
    async with CanfarAdapter("d", config, deps) as adapter:
        mine = await run(adapter, batch("true"), CallContext())
        theirs = await run(adapter, batch("true"), CallContext(credentials=Secret(other)))
    assert emulator.sessions[mine.native_id].userid != "someone-else"
    assert emulator.sessions[theirs.native_id].userid == "someone-else"


async def test_rejected_token_is_an_auth_error_and_unhealthy(
    skaha: EmulatorServer, deps: AdapterDeps, call: CallContext
) -> None:
    async with CanfarAdapter("b", config_for(skaha.url, "revoked"), deps) as adapter:
        with pytest.raises(AuthError, match="missing, invalid or expired"):
            await adapter.offers(batch("true"), call)
        health = await adapter.health()
        assert not health.ok
        assert "HTTP 401" in health.message


def test_service_mode_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="needs 'token' or 'x509_proxy'"):
        CanfarConfig()


def test_x509_proxy_is_loaded_as_client_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "cadcproxy.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=test",
            "-days",
            "1",
            "-keyout",
            str(pem),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    pem.write_text(pem.read_text() + (tmp_path / "cert.pem").read_text())
    adapter = CanfarAdapter("x", CanfarConfig(x509_proxy=pem), AdapterDeps(tmp_path))
    assert adapter._token(CallContext()) is None  # no bearer token with a proxy certificate

    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    with pytest.raises(FatalError, match="x509_proxy") as caught:
        CanfarAdapter("x", CanfarConfig(x509_proxy=broken), AdapterDeps(tmp_path))
    assert "not a certificate" not in str(caught.value)
