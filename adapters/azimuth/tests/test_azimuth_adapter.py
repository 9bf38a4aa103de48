"""The Azimuth adapter against the emulated portal: what the kit does not cover."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from azimuth_support import Callbacks, config_for
from ivoa_broker_azimuth import AzimuthAdapter, AzimuthConfig
from ivoa_broker_azimuth.emulator import AzimuthEmulator, EmulatorServer

from ivoa_broker.protocol import (
    AdapterDeps,
    AuthError,
    CallContext,
    EndReason,
    ExecutionRequest,
    Handle,
    InvalidRequest,
    NoCapacity,
    Phase,
    Resources,
    utcnow,
)
from ivoa_broker.testing import WakeSignal, wait_for_phase

GiB = 2**30


def _job(**kwargs: object) -> ExecutionRequest:
    values: dict[str, object] = {"job_id": str(uuid.uuid4()), "owner": "alice"}
    values.update(kwargs)
    return ExecutionRequest(**values)  # type: ignore[arg-type]


async def _run(
    adapter: AzimuthAdapter, request: ExecutionRequest, ctx: CallContext, wake: WakeSignal
) -> tuple[Handle, Phase]:
    [offer] = await adapter.offers(request, ctx)
    handle = await adapter.submit(request, offer, ctx)
    history = await wait_for_phase(
        adapter,
        handle,
        {Phase.COMPLETED, Phase.ERROR, Phase.ABORTED},
        ctx=ctx,
        max_wait=30,
        wake=wake,
    )
    return handle, history[-1].phase


async def test_offer_names_the_quota_that_cannot_hold_it(
    azimuth: AzimuthAdapter, emulator: AzimuthEmulator, tenancy_id: str, call: CallContext
) -> None:
    emulator.tenancies[tenancy_id].quota_cpus = 3
    small = _job(command=("true",), resources=Resources(cores=2))
    [offer] = await azimuth.offers(small, call)
    assert offer.terms["size"] == "general.v1.small"
    big = _job(command=("true",), resources=Resources(cores=4))
    with pytest.raises(
        NoCapacity, match=r"CPUs quota \(cpus\) has 3 free of 3; size general.v1.medium"
    ):
        await azimuth.offers(big, call)


async def test_gpu_request_gets_the_gpu_size_and_others_never_do(
    azimuth: AzimuthAdapter, call: CallContext
) -> None:
    [gpu] = await azimuth.offers(_job(command=("true",), resources=Resources(gpus=1)), call)
    assert gpu.terms["size"] == "gpu.v1.a100" and gpu.resources.gpus == 1
    [cpu] = await azimuth.offers(_job(command=("true",), resources=Resources(cores=8)), call)
    assert cpu.terms["size"] == "general.v1.large"
    assert await azimuth.offers(_job(command=("true",), resources=Resources(cores=16)), call) == []
    assert azimuth.capabilities.max_gpus == 1 and azimuth.capabilities.max_cores == 16


async def test_status_of_many_machines_is_one_list_call(
    azimuth: AzimuthAdapter, emulator: AzimuthEmulator, tenancy_id: str, call: CallContext
) -> None:
    handles = []
    for _ in range(3):
        request = _job(command=("sleep", "30"))
        [offer] = await azimuth.offers(request, call)
        handles.append(await azimuth.submit(request, offer, call))
    before = len(emulator.calls)
    found = await azimuth.status_many(handles, call)
    assert set(found) == {h.native_id for h in handles}
    assert emulator.calls[before:] == [("GET", f"/api/tenancies/{tenancy_id}/machines/")]
    for handle in handles:
        await azimuth.cleanup(handle, call)


async def test_container_image_runs_in_the_machine(
    azimuth: AzimuthAdapter, call: CallContext, wake: WakeSignal
) -> None:
    request = _job(
        image="docker.io/library/alpine:3.20",
        command=("sh", "-c", 'echo from-image; echo data > "$IVOA_BROKER_OUTPUT_DIR/out.txt"'),
    )
    handle, phase = await _run(azimuth, request, call, wake)
    assert phase == Phase.COMPLETED
    refs = {r.id: r for r in await azimuth.results(handle, call)}
    assert refs["out.txt"].path is not None and refs["out.txt"].path.read_text() == "data\n"
    assert "from-image" in await azimuth.logs(handle, call)
    await azimuth.release(handle, call)  # the machine goes, the results stay
    assert (await azimuth.status_many([handle], call))[handle.native_id].phase == Phase.COMPLETED
    assert await azimuth.results(handle, call)
    await azimuth.cleanup(handle, call)
    assert await azimuth.results(handle, call) == []


async def test_interactive_app_endpoint_answers(
    azimuth: AzimuthAdapter, emulator: AzimuthEmulator, call: CallContext, wake: WakeSignal
) -> None:
    request = _job(kind="interactive")
    [offer] = await azimuth.offers(request, call)
    assert offer.terms == {"kind": "app", "template": "jupyterhub"}
    handle = await azimuth.submit(request, offer, call)
    assert handle.native_id == f"app:ivoa-{request.job_id}"
    [*_, running] = await wait_for_phase(
        azimuth, handle, {Phase.EXECUTING}, ctx=call, max_wait=30, wake=wake
    )
    assert running.endpoint is not None
    token = azimuth.client._token
    async with httpx.AsyncClient(follow_redirects=True) as http:
        page = await http.get(running.endpoint, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "JupyterHub" in page.text
    assert await azimuth.list_native(call) == {handle.native_id: request.job_id}
    stop = dataclasses.replace(handle, cancel_requested=True)
    await azimuth.cancel(stop, call)
    await azimuth.cancel(stop, call)  # idempotent
    [*_, ended] = await wait_for_phase(
        azimuth, stop, {Phase.ABORTED}, ctx=call, max_wait=30, wake=wake
    )
    assert ended.phase == Phase.ABORTED
    await azimuth.cleanup(stop, call)


@pytest.fixture
async def workstation(
    portal: EmulatorServer,
    cred: tuple[str, str],
    deps: AdapterDeps,
    callbacks: Callbacks,
) -> AsyncIterator[AzimuthAdapter]:
    config = config_for(portal.url, cred, interactive="cluster", service="webconsole")
    async with AzimuthAdapter("az-ws", config, deps) as adapter:
        yield adapter


async def test_workstation_cluster_ends_at_the_request_deadline(
    workstation: AzimuthAdapter, call: CallContext, wake: WakeSignal
) -> None:
    deadline = utcnow() + timedelta(seconds=3)
    request = _job(kind="interactive", deadline=deadline, resources=Resources(cores=2))
    [offer] = await workstation.offers(request, call)
    assert offer.terms["kind"] == "cluster" and offer.terms["size"] == "general.v1.small"
    assert offer.terms["end_time"] == deadline.isoformat()
    handle = await workstation.submit(request, offer, call)
    [*_, running] = await wait_for_phase(
        workstation, handle, {Phase.EXECUTING}, ctx=call, max_wait=30, wake=wake
    )
    assert running.endpoint is not None and running.endpoint.endswith("/services/webconsole/")
    [*_, ended] = await wait_for_phase(
        workstation, handle, {Phase.COMPLETED}, ctx=call, max_wait=30, wake=wake
    )
    assert ended.reason == EndReason.DEADLINE
    await workstation.cleanup(handle, call)


async def test_expired_token_is_renewed_once(
    azimuth: AzimuthAdapter, emulator: AzimuthEmulator, call: CallContext
) -> None:
    tokens = [c for c in emulator.calls if c[1] == "/auth/appcred/token/"]
    emulator.expire_tokens()
    assert await azimuth.list_native(call) == {}
    assert len([c for c in emulator.calls if c[1] == "/auth/appcred/token/"]) == len(tokens) + 1


async def test_a_token_without_credential_cannot_be_renewed(
    portal: EmulatorServer, cred: tuple[str, str], emulator: AzimuthEmulator, deps: AdapterDeps
) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{portal.url}/auth/appcred/token/",
            json={"application_credential_id": cred[0], "application_credential_secret": cred[1]},
        )
    config = AzimuthConfig(url=portal.url, token=answer.json()["token"])  # type: ignore[arg-type]
    ctx = CallContext()
    async with AzimuthAdapter("az-token", config, deps) as adapter:
        assert await adapter.list_native(ctx) == {}
        emulator.expire_tokens()
        with pytest.raises(AuthError, match="session has expired"):
            await adapter.list_native(ctx)


async def test_wrong_credential_is_an_auth_error(portal: EmulatorServer, deps: AdapterDeps) -> None:
    config = config_for(portal.url, ("nobody", "wrong"))
    with pytest.raises(AuthError, match="Invalid credentials"):
        async with AzimuthAdapter("az-bad", config, deps):
            pass


async def test_portal_validation_errors_are_invalid_requests(
    azimuth: AzimuthAdapter, call: CallContext
) -> None:
    with pytest.raises(InvalidRequest, match="name: This value does not match"):
        await azimuth.client.create_machine("bad name", "x", "y", "#!/bin/sh\n")
    with pytest.raises(InvalidRequest, match="Invalid image provided"):
        await azimuth.client.create_machine("ok", "no-such-image", "y", "#!/bin/sh\n")


async def test_forged_callback_is_refused(azimuth: AzimuthAdapter, call: CallContext) -> None:
    request = _job(command=("sleep", "30"))
    [offer] = await azimuth.offers(request, call)
    handle = await azimuth.submit(request, offer, call)
    with pytest.raises(AuthError):
        await azimuth.receive_callback(handle, "not-the-secret", {"exit_code": "0"}, {})
    await azimuth.cleanup(handle, call)


def test_job_ids_that_cannot_be_names_are_refused(azimuth: AzimuthAdapter) -> None:
    assert azimuth.explain_refusal(_job(command=("true",), job_id="Has_Upper")) is not None
    assert azimuth.explain_refusal(_job(command=("true",))) is None


async def test_secrets_stay_out_of_handles_and_reprs(
    azimuth: AzimuthAdapter, cred: tuple[str, str], call: CallContext
) -> None:
    request = _job(command=("sleep", "30"))
    [offer] = await azimuth.offers(request, call)
    handle = await azimuth.submit(request, offer, call)
    for text in (handle.to_json(), repr(azimuth), repr(azimuth.config), repr(azimuth.client)):
        assert cred[1] not in text
        assert str(azimuth.client._token) not in text
    await azimuth.cleanup(handle, call)


async def test_machine_job_is_stopped_at_its_deadline(
    azimuth: AzimuthAdapter, call: CallContext, wake: WakeSignal
) -> None:
    request = _job(
        command=("sh", "-c", "echo started; sleep 60"), deadline=utcnow() + timedelta(seconds=2)
    )
    handle, phase = await _run(azimuth, request, call, wake)
    assert phase == Phase.ERROR
    [status] = (await azimuth.status_many([handle], call)).values()
    assert status.reason == EndReason.DEADLINE and status.exit_code == 143
    assert "started" in await azimuth.logs(handle, call)
    await azimuth.cleanup(handle, call)
