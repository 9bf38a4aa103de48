"""Cancel, cleanup, orphan sweep, idempotent submit, one list call per poll, secrets."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
import uuid
from pathlib import Path

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from ivoa_broker_openstack._client import OpenStackClient
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import Callbacks, Stack, make_config, wait_phase

from ivoa_broker.protocol import (
    AdapterDeps,
    AuthError,
    CallContext,
    ExecutionRequest,
    Handle,
    Phase,
)
from ivoa_broker.testing import WakeSignal


def job(*command: str) -> ExecutionRequest:
    return ExecutionRequest(job_id=f"job-{uuid.uuid4().hex[:10]}", command=command)


async def submit(
    adapter: OpenStackAdapter, request: ExecutionRequest, ctx: CallContext, callbacks: Callbacks
) -> Handle:
    [offer] = await adapter.offers(request, ctx)
    return callbacks.register(await adapter.submit(request, offer, ctx))


async def test_cancel_running_job_ends_aborted(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
) -> None:
    handle = await submit(adapter, job("sleep", "600"), ctx, callbacks)
    await wait_phase(adapter, handle, ctx, wake, guest, {Phase.EXECUTING})
    cancelled = dataclasses.replace(handle, cancel_requested=True)
    await adapter.cancel(cancelled, ctx)
    await adapter.cancel(cancelled, ctx)  # only asks; asking twice is fine
    history = await wait_phase(adapter, cancelled, ctx, wake, guest)
    assert history[-1].phase is Phase.ABORTED, history[-1]
    assert handle.native_id not in await adapter.list_native(ctx)
    assert callbacks.received == []


async def test_cancel_after_completion_keeps_completed(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
) -> None:
    handle = await submit(adapter, job("true"), ctx, callbacks)
    assert (await wait_phase(adapter, handle, ctx, wake, guest))[-1].phase is Phase.COMPLETED
    cancelled = dataclasses.replace(handle, cancel_requested=True)
    await adapter.cancel(cancelled, ctx)
    status = (await adapter.status_many([cancelled], ctx))[handle.native_id]
    assert status.phase is Phase.COMPLETED


async def test_cleanup_is_idempotent_and_removes_everything(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
    admin_client: OpenStackClient,
) -> None:
    task = job("sh", "-c", "echo x > $IVOA_BROKER_OUTPUT_DIR/x")
    handle = await submit(adapter, task, ctx, callbacks)
    await wait_phase(adapter, handle, ctx, wake, guest)
    assert [r.id for r in await adapter.results(handle, ctx)] == ["stderr", "stdout", "x"]
    await adapter.cleanup(handle, ctx)
    await adapter.cleanup(handle, ctx)
    assert handle.native_id not in await adapter.list_native(ctx)
    assert await adapter.results(handle, ctx) == []
    assert not (adapter.deps.data_dir / "servers" / handle.native_id).exists()
    # Nova deletes asynchronously: right after the call the server may still show
    # SHUTOFF with task_state "deleting" (which the adapter counts as gone); it must
    # then be gone for real within the deadline
    server = await admin_client.get_server(handle.native_id)
    assert server is None or server.status == "DELETED" or server.task_state == "deleting", (
        f"{server}"
    )
    deadline = time.monotonic() + 60
    while server is not None and server.status != "DELETED":
        assert time.monotonic() < deadline, f"server still there after cleanup: {server}"
        await asyncio.sleep(0.25)
        server = await admin_client.get_server(handle.native_id)


async def test_orphans_are_found_by_a_fresh_instance_and_submit_is_idempotent(
    adapter: OpenStackAdapter, ctx: CallContext, callbacks: Callbacks
) -> None:
    request = job("sleep", "600")  # no guest fixture here: the server just stays ACTIVE
    [offer] = await adapter.offers(request, ctx)
    first = await adapter.submit(request, offer, ctx)
    async with OpenStackAdapter(adapter.name, adapter.config, adapter.deps) as fresh:
        assert await fresh.list_native(ctx) == {first.native_id: request.job_id}
        again = await fresh.submit(request, offer, ctx)
        assert again.native_id == first.native_id
        assert again.state["secret_sha256"] == first.state["secret_sha256"]
    async with OpenStackAdapter(
        "someone-else", adapter.config, AdapterDeps(data_dir=adapter.deps.data_dir)
    ) as other:
        assert first.native_id not in await other.list_native(ctx)


async def test_status_of_many_jobs_is_one_list_call(
    adapter: OpenStackAdapter, ctx: CallContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    handles = []
    for _ in range(3):
        request = job("sleep", "600")
        [offer] = await adapter.offers(request, ctx)
        handles.append(await adapter.submit(request, offer, ctx))
    gone = Handle(adapter=adapter.name, native_id=str(uuid.uuid4()), state={})
    calls: list[str] = []
    real_list, real_get = adapter.client.list_servers, adapter.client.get_server

    async def counted_list(prefix: str) -> object:
        calls.append("list")
        return await real_list(prefix)

    async def counted_get(server_id: str) -> object:
        calls.append("get")
        return await real_get(server_id)

    monkeypatch.setattr(adapter.client, "list_servers", counted_list)
    monkeypatch.setattr(adapter.client, "get_server", counted_get)
    statuses = await adapter.status_many([*handles, gone], ctx)
    assert calls == ["list"]
    assert {statuses[h.native_id].phase for h in handles} <= {Phase.QUEUED, Phase.EXECUTING}
    assert statuses[gone.native_id].phase is Phase.ERROR
    aborted = dataclasses.replace(gone, cancel_requested=True)
    assert (await adapter.status_many([aborted], ctx))[gone.native_id].phase is Phase.ABORTED


async def test_callback_with_a_wrong_secret_is_refused(
    adapter: OpenStackAdapter, ctx: CallContext, admin_client: OpenStackClient
) -> None:
    request = job("true")
    [offer] = await adapter.offers(request, ctx)
    handle = await adapter.submit(request, offer, ctx)
    with pytest.raises(AuthError):
        await adapter.receive_callback(handle, "not-the-secret", {"exit_code": "0"}, {})
    status = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert status.phase in (Phase.QUEUED, Phase.EXECUTING)
    assert await adapter.results(handle, ctx) == []


async def test_job_secret_and_password_never_leak(
    openstack_stack: Stack,
    tmp_path: Path,
    ctx: CallContext,
    admin_client: OpenStackClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = make_config(
        openstack_stack,
        cloud=None,
        clouds_yaml=None,
        auth_url=openstack_stack.keystone_url,
        username="admin",
        password="adminpw",
        project_name="admin",
        region_name="RegionOne",
    )
    wake = WakeSignal()
    async with OpenStackAdapter("os-secret", cfg, AdapterDeps(data_dir=tmp_path, wake=wake)) as a:
        assert "adminpw" not in repr(cfg)
        assert "adminpw" not in repr(a)
        assert "adminpw" not in str(cfg.model_dump())
        request = job("true")
        [offer] = await a.offers(request, ctx)
        handle = await a.submit(request, offer, ctx)
        try:
            server = await admin_client.get_server(handle.native_id)
            assert server is not None
            assert server.user_data is not None
            script = base64.b64decode(server.user_data).decode()
            secret = script.split("Authorization: Bearer %s\\n' ", 1)[1].split(" ", 1)[0]
            assert len(secret) >= 40
            texts = [handle.to_json(), repr(handle), str(server.metadata), caplog.text]
            status = (await a.status_many([handle], ctx))[handle.native_id]
            texts.append(repr(status))
            try:
                await a.receive_callback(handle, secret + "x", {"exit_code": "0"}, {})
            except AuthError as exc:
                texts += [exc.message, str(exc.detail)]
            await a.receive_callback(handle, secret, {"exit_code": "0"}, {"out.txt": b"ok"})
            texts.append(caplog.text)
            for text in texts:
                assert secret not in text
                assert "adminpw" not in text
        finally:
            await a.cleanup(handle, ctx)
    bad = make_config(
        openstack_stack,
        cloud=None,
        clouds_yaml=None,
        auth_url=openstack_stack.keystone_url,
        username="admin",
        password="wrong-pw-123",
        project_name="admin",
    )
    with pytest.raises(AuthError) as info:
        async with OpenStackAdapter("os-bad", bad, AdapterDeps(data_dir=tmp_path)) as b:
            await b.offers(job("true"), ctx)
    assert "wrong-pw-123" not in f"{info.value.message} {info.value.detail} {caplog.text}"
