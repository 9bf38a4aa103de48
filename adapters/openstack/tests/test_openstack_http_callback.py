"""The guest's real curl against a real HTTP callback route (what the broker will serve)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from ivoa_broker_openstack import OpenStackAdapter
from ivoa_broker_openstack._client import OpenStackClient
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import Callbacks, Stack, make_config, wait_phase
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivoa_broker.protocol import AdapterDeps, AuthError, CallContext, ExecutionRequest, Phase
from ivoa_broker.testing import WakeSignal


def route(callbacks: Callbacks) -> Starlette:
    """``POST /callbacks/{instance}/{job_id}``: bearer secret, multipart form."""

    async def callback(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        handle = callbacks.handles.get(job_id)
        auth = request.headers.get("authorization", "")
        if handle is None or not auth.startswith("Bearer "):
            return Response(status_code=404)
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = await value.read()
                else:
                    fields[key] = value
        try:
            await callbacks.adapter.receive_callback(handle, auth[7:], fields, files)
        except AuthError:
            return Response(status_code=401)
        callbacks.received.append(job_id)
        return Response(status_code=204)

    return Starlette(routes=[Route("/callbacks/{instance}/{job_id}", callback, methods=["POST"])])


@pytest.fixture
async def http_adapter(
    openstack_stack: Stack,
    admin_client: OpenStackClient,
    tmp_path: Path,
    wake: WakeSignal,
    instance_name: str,
    ctx: CallContext,
) -> AsyncIterator[tuple[OpenStackAdapter, Callbacks, GuestStandIn]]:
    deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue until uvicorn serves
    port = sock.getsockname()[1]
    adapter = OpenStackAdapter(
        instance_name,
        make_config(openstack_stack, callback_base_url=f"http://127.0.0.1:{port}"),
        deps,
    )
    callbacks = Callbacks(adapter)
    config = uvicorn.Config(route(callbacks), log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    standin = GuestStandIn(  # no deliver: the script's own curl posts to the route
        admin_client,
        tmp_path / "guests",
        skip=lambda s: s.metadata.get("ivoa_broker_instance") != instance_name,
    )
    try:
        async with adapter, standin:
            yield adapter, callbacks, standin
            for native_id in await adapter.list_native(ctx):
                await adapter.client.delete_server(native_id)
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_real_curl_reports_through_http(
    http_adapter: tuple[OpenStackAdapter, Callbacks, GuestStandIn],
    ctx: CallContext,
    wake: WakeSignal,
) -> None:
    adapter, callbacks, guest = http_adapter
    request = ExecutionRequest(
        job_id=f"job-{uuid.uuid4().hex[:10]}",
        command=(
            "sh", "-c", 'echo via-http; head -c 3000 /dev/zero > "$IVOA_BROKER_OUTPUT_DIR/z.bin"'
        ),
    )
    [offer] = await adapter.offers(request, ctx)
    handle = callbacks.register(await adapter.submit(request, offer, ctx))
    history = await wait_phase(adapter, handle, ctx, wake, guest)
    assert history[-1].phase is Phase.COMPLETED, (history[-1], guest.runs)
    assert callbacks.received == [request.job_id]
    results = {r.id: r for r in await adapter.results(handle, ctx)}
    assert results["z.bin"].size == 3000
    assert "via-http" in await adapter.logs(handle, ctx)
    run = guest.runs[handle.native_id]
    assert run.powered_off
    assert not run.delivered  # the stand-in did not deliver: curl did
