"""Interactive sessions and notebook runs on the real hub, beyond the kit:
progress while spawning, the scoped endpoint, cancel during spawn, notebook
results and cell errors, a hub restarted mid-session, orphans."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterable

import httpx
from hub_support import file_server, notebook, outputs
from ivoa_broker_jupyterhub import JupyterHubAdapter, JupyterHubConfig
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    Handle,
    Phase,
    Status,
    TransientError,
)
from ivoa_broker.testing import TERMINAL, WakeSignal

WAIT = 180.0


def _job() -> str:
    return str(uuid.uuid4())


async def _wait(
    adapter: JupyterHubAdapter,
    handle: Handle,
    phases: Iterable[Phase],
    ctx: CallContext,
    wake: WakeSignal | None = None,
    limit: float = WAIT,
) -> list[Status]:
    wanted = set(phases)
    seen: list[Status] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        found = await adapter.status_many([handle], ctx)
        status = found.get(handle.native_id)
        if status is not None:
            seen.append(status)
            if status.phase in wanted:
                return seen
        assert loop.time() < deadline, f"not {wanted} within {limit} s: {seen[-3:]}"
        if wake is not None:
            await wake.wait(0.5)
        else:
            await asyncio.sleep(0.3)


async def _submit(
    adapter: JupyterHubAdapter, request: ExecutionRequest, ctx: CallContext
) -> Handle:
    offers = await adapter.offers(request, ctx)
    assert offers, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], ctx)


async def _remove(adapter: JupyterHubAdapter, handle: Handle, ctx: CallContext) -> None:
    stop = dataclasses.replace(handle, cancel_requested=True)
    await adapter.cancel(stop, ctx)
    await adapter.cleanup(stop, ctx)


async def test_interactive_progress_then_scoped_endpoint(
    jhub: JupyterHubAdapter, hub: LocalHub, call: CallContext
) -> None:
    nb = notebook("print('served')")
    with file_server({"session.ipynb": nb}) as base:
        request = ExecutionRequest(
            job_id=_job(), owner="alice", kind="interactive", notebook=f"{base}/session.ipynb"
        )
        handle = await _submit(jhub, request, call)
    try:
        history = await _wait(jhub, handle, {Phase.EXECUTING}, call)
        spawning = [s for s in history if s.native_state == "spawning"]
        assert spawning and all(s.progress is not None for s in spawning)
        assert all(s.endpoint is None for s in history)  # no endpoint before it serves
        history = [s for s in history if s.endpoint] or await _wait_endpoint(jhub, handle, call)
        endpoint = history[-1].endpoint
        assert endpoint is not None
        assert endpoint.startswith(f"{hub.url}/user/alice/")
        assert hub.token.reveal() not in endpoint  # never the service token
        url = httpx.URL(endpoint)
        token = url.params["token"]
        server = endpoint.split("lab/tree/")[0]
        async with httpx.AsyncClient(timeout=30) as http:
            ok = await http.get(f"{server}api/status", headers={"Authorization": f"token {token}"})
            assert ok.status_code == 200
            # the staged notebook is there, served to the token's holder only
            path = endpoint.split("lab/tree/")[1].split("?")[0]
            model = await http.get(
                f"{server}api/contents/{path}", headers={"Authorization": f"token {token}"}
            )
            assert model.status_code == 200
            assert "served" in model.text
            page = await http.get(endpoint)  # what a browser opens: lab, with the token in the URL
            assert page.status_code == 200
            assert "jupyter" in page.text.lower()
        async with httpx.AsyncClient(timeout=30) as http:  # no cookie, no token
            bare = await http.get(f"{server}api/status")
            assert bare.status_code in (401, 403)
            bare = await http.get(f"{server}api/contents/{path}")
            assert bare.status_code in (401, 403)
            other = await http.get(
                f"{hub.url}/hub/api/users", headers={"Authorization": f"token {token}"}
            )
            assert other.status_code == 403  # scoped to the server, nothing else
    finally:
        await _remove(jhub, handle, call)
    async with httpx.AsyncClient(timeout=30) as http:
        gone = await http.get(f"{server}api/status", headers={"Authorization": f"token {token}"})
        assert gone.status_code != 200


async def _wait_endpoint(
    adapter: JupyterHubAdapter, handle: Handle, ctx: CallContext
) -> list[Status]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        status = (await adapter.status_many([handle], ctx))[handle.native_id]
        if status.endpoint:
            return [status]
        assert status.phase == Phase.EXECUTING, status
        assert loop.time() < deadline, status
        await asyncio.sleep(0.3)


async def test_cancel_during_spawn_ends_aborted_and_removes_server(
    jhub: JupyterHubAdapter, call: CallContext
) -> None:
    request = ExecutionRequest(job_id=_job(), owner="bob", kind="interactive")
    handle = await _submit(jhub, request, call)
    first = (await jhub.status_many([handle], call))[handle.native_id]
    assert first.phase == Phase.QUEUED, first  # still spawning
    stop = dataclasses.replace(handle, cancel_requested=True)
    await jhub.cancel(stop, call)
    history = await _wait(jhub, stop, TERMINAL, call)
    assert history[-1].phase == Phase.ABORTED
    await jhub.cleanup(stop, call)
    assert handle.native_id not in await jhub.list_native(call)


async def test_notebook_run_results_and_output_files(
    jhub: JupyterHubAdapter, call: CallContext
) -> None:
    nb = notebook(
        "import os\nprint('job', os.environ['IVOA_BROKER_JOB_ID'])",
        "open('table.csv', 'w').write('a,b\\n1,2\\n')\nprint(6 * 7)",
    )
    job = _job()
    with file_server({"run.ipynb": nb}) as base:
        request = ExecutionRequest(job_id=job, owner="alice", notebook=f"{base}/run.ipynb")
        handle = await _submit(jhub, request, call)
    try:
        history = await _wait(jhub, handle, TERMINAL, call)
        assert history[-1].phase == Phase.COMPLETED, history[-1]
        assert history[-1].exit_code == 0
        refs = {r.id: r for r in await jhub.results(handle, call)}
        assert refs["table.csv"].path is not None
        assert refs["table.csv"].path.read_text() == "a,b\n1,2\n"
        executed = refs["run.ipynb"]
        assert executed.mime_type == "application/x-ipynb+json"
        assert executed.path is not None
        assert outputs(executed.path) == [f"job {job}\n", "42\n"]
        await jhub.release(handle, call)
        assert handle.native_id not in await jhub.list_native(call)  # server removed
        again = {r.id for r in await jhub.results(handle, call)}
        assert again == set(refs)
    finally:
        await _remove(jhub, handle, call)


async def test_cell_error_is_error_with_traceback_summary(
    jhub: JupyterHubAdapter, call: CallContext
) -> None:
    nb = notebook(
        "x = 1", "def f():\n    raise ValueError('bad value ' + str(x))\nf()", "print('never')"
    )
    with file_server({"broken.ipynb": nb}) as base:
        request = ExecutionRequest(job_id=_job(), owner="alice", notebook=f"{base}/broken.ipynb")
        handle = await _submit(jhub, request, call)
    try:
        history = await _wait(jhub, handle, TERMINAL, call)
        final = history[-1]
        assert final.phase == Phase.ERROR, final
        assert final.exit_code == 1
        assert final.message is not None
        assert "cell 1" in final.message
        assert "ValueError: bad value 1" in final.message
        refs = {r.id: r for r in await jhub.results(handle, call)}
        assert refs["broken.ipynb"].path is not None  # the executed notebook comes back too
        assert not [t for t in outputs(refs["broken.ipynb"].path) if "never" in t]
    finally:
        await _remove(jhub, handle, call)


async def test_hub_restarted_mid_session(
    jhub: JupyterHubAdapter, hub: LocalHub, call: CallContext
) -> None:
    request = ExecutionRequest(
        job_id=_job(), owner="carol", command=("sh", "-c", "sleep 8; echo survived")
    )
    handle = await _submit(jhub, request, call)
    try:
        await _wait(jhub, handle, {Phase.EXECUTING}, call)
        restart = asyncio.ensure_future(asyncio.to_thread(hub.restart))
        outage = 0
        while not restart.done():  # the hub is down for a while: polls fail transiently
            try:
                status = (await jhub.status_many([handle], call)).get(handle.native_id)
            except TransientError:
                outage += 1
            else:
                assert status is None or status.phase == Phase.EXECUTING, status
            await asyncio.sleep(0.2)
        await restart
        assert outage > 0, "the hub never looked down"
        history = await _wait(jhub, handle, TERMINAL, call)
        assert history[-1].phase == Phase.COMPLETED, history[-1]
        assert "survived" in await jhub.logs(handle, call)
    finally:
        await _remove(jhub, handle, call)


async def test_orphans_are_listed_by_server_name(
    jhub: JupyterHubAdapter, call: CallContext
) -> None:
    request = ExecutionRequest(job_id=_job(), owner="alice", command=("sleep", "60"))
    handle = await _submit(jhub, request, call)
    try:
        listed = await jhub.list_native(call)
        assert listed[handle.native_id] == request.job_id
        assert handle.native_id.startswith("alice/ivbu")
    finally:
        await _remove(jhub, handle, call)


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return await super().handle_async_request(request)


async def test_one_users_request_per_poll(
    config: JupyterHubConfig, deps: AdapterDeps, call: CallContext
) -> None:
    counting = CountingTransport()
    async with JupyterHubAdapter("jh-count", config, deps, transport=counting) as adapter:
        requests = [
            ExecutionRequest(job_id=_job(), owner=owner, kind="interactive")
            for owner in ("alice", "bob", "carol")
        ]
        handles = [await _submit(adapter, r, call) for r in requests]
        try:
            counting.seen.clear()
            found = await adapter.status_many(handles, call)
            assert set(found) == {h.native_id for h in handles}
            polled = [seen for seen in counting.seen if not seen[1].endswith("/progress")]
            assert polled == [("GET", "/hub/api/users")]
        finally:
            for handle in handles:
                await _remove(adapter, handle, call)
