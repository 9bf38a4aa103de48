"""Sessions whose adapter record was lost, on the emulator + real hub: the tag on the
hub names their job, so ``list_native`` finds them, a stored Handle sees the session
again, and ``cleanup`` from a Handle of only the native id (the core's orphan sweep)
removes them. Here with authentication and named servers on (a named server of the
BinderHub's user); the sweep through a real broker, with BinderHub's temporary users,
is in ``test_binderhub_broker.py``."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
from binder_support import adapter_config, hub_servers, make_repo, ready_endpoint, serve_repo
from ivoa_broker_binderhub import BinderHubAdapter
from ivoa_broker_binderhub._records import RecordStore
from ivoa_broker_binderhub.emulator import BinderEmulator
from ivoa_broker_jupyterhub.client import HubClient
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Handle, Phase
from ivoa_broker.testing import WakeSignal

CTX = CallContext(owner="alice", request_id="t")


def _adapter(binder_url: str, hub: LocalHub, data: Path) -> BinderHubAdapter:
    deps = AdapterDeps(data_dir=data, wake=WakeSignal())
    return BinderHubAdapter("binder", adapter_config(binder_url, hub), deps)


async def test_a_session_whose_record_was_lost_is_found_rebuilt_and_removed(
    binder_url: str, hub: LocalHub, emulator: BinderEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    job = f"lost-{uuid.uuid4().hex[:8]}"
    emulator.mode = "named"  # JupyterHub 6 takes server names of 30 characters: a short repo
    try:
        with serve_repo(make_repo(tmp_path / "nb"), "nb.git") as repo:
            request = ExecutionRequest(
                job_id=job,
                owner="alice",
                kind="interactive",
                extensions={"binder.repo": repo, "binder.ref": "main"},
            )
            async with _adapter(binder_url, hub, data) as first:
                (offer,) = await first.offers(request, CTX)
                handle = await first.submit(request, offer, CTX)
                endpoint = await ready_endpoint(first, handle, CTX)
    finally:
        emulator.mode = "anonymous"
    # a named server of BinderHub's user, named after the repository
    server = httpx.URL(endpoint).path.strip("/").split("/")[-1]
    assert endpoint.startswith(f"{hub.url}/user/{emulator.user}/nb-")
    assert (emulator.user, server) in await hub_servers(hub)

    # killed after the tag, before the ready record: the record still says "launching"
    store = RecordStore(data)
    record = store.load(handle.native_id)
    assert record is not None and record.tagged
    record.phase, record.server_user, record.server_name, record.url = "launching", None, None, None
    store.save(handle.native_id, record)
    async with _adapter(binder_url, hub, data) as restarted:
        again = await ready_endpoint(restarted, handle, CTX)
        assert httpx.URL(again).path == httpx.URL(endpoint).path  # the tagged one, not a new one

    shutil.rmtree(data)  # the adapter's records are lost
    async with _adapter(binder_url, hub, data) as fresh:
        assert (await fresh.list_native(CTX)).get(handle.native_id) == job
        # the stored Handle sees the session again, with an endpoint that serves
        status = await fresh.status(handle, CTX)
        assert status.phase is Phase.EXECUTING and status.endpoint is not None
        url = httpx.URL(status.endpoint)
        assert url.path == httpx.URL(endpoint).path
        async with httpx.AsyncClient(timeout=60) as http:
            served = await http.get(
                f"{url.copy_with(query=None)}api/status",
                headers={"Authorization": f"token {url.params['token']}"},
            )
            assert served.status_code == 200

    shutil.rmtree(data)  # lost again: now the orphan sweep's call, a Handle of the id only
    async with _adapter(binder_url, hub, data) as sweeper:
        await sweeper.cleanup(Handle(adapter="binder", native_id=handle.native_id), CTX)
        assert handle.native_id not in await sweeper.list_native(CTX)
        await sweeper.cleanup(Handle(adapter="binder", native_id=handle.native_id), CTX)
    async with HubClient(hub.url, hub.token) as client:
        user = await client.user(emulator.user)  # the signed-in user stays, without it
        assert user is not None and server not in user.servers
        assert not [t for t in await client.tokens(emulator.user) if server in str(t["scopes"])]
