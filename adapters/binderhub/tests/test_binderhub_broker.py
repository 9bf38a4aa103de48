"""The whole chain through a real broker process (``ivoa-broker serve``, the adapter
found by its entry point) on the BinderHub emulator and the real hub behind it:
pyvo runs Binder sessions through UWS (one culled, so it completes; one whose build
fails, with the build log in the error), and an ExecutionBroker request for a
notebook from a repository is offered by binderhub, accepted, and its endpoint
really serves."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from binder_support import (
    BINDER_TOKEN,
    adapter_config,
    hub_servers,
    make_repo,
    ready_endpoint,
    serve_repo,
    wait_until,
)
from ivoa_broker_binderhub import BinderHubAdapter
from ivoa_broker_binderhub._client import BinderClient
from ivoa_broker_binderhub._hub import Hub
from ivoa_broker_binderhub._naming import name_prefix
from ivoa_broker_binderhub._tags import SessionTags
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Handle, Secret
from ivoa_broker.testing.broker_http import accept_offer
from tests.server import BrokerProcess, session_with_connectors, wait_phase

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}
ALICE = {"Authorization": "Bearer alice-binder-0123456789"}
UPDATE = "uri:enum-value-update"
#: the broker's tag on the hub: its own, so the sweep never sees other tests' sessions
TAG = f"broker-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def broker(
    binder_url: str, hub: LocalHub, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("binder-broker")
    (workdir / "tokens.txt").write_text("alice-binder-0123456789 alice\n")
    config = (
        '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
        "[jobs]\nwait_cap = 10\noffer_deadline = 20\n"
        '[adapters.binder]\nplugin = "binderhub"\n[adapters.binder.config]\n'
        f'url = "{binder_url}"\ntoken = "{BINDER_TOKEN}"\n'
        f'hub_url = "{hub.url}"\nhub_token = "{hub.token.reveal()}"\nhub_tag = "{TAG}"\n'
    )
    process = BrokerProcess(workdir, config=config).start(timeout=120)
    yield process
    process.stop()
    log = process.log.read_text(errors="replace")
    assert hub.token.reveal() not in log
    assert BINDER_TOKEN not in log


def _pyvo_session() -> Any:
    import pyvo

    session = pyvo.utils.http.create_session()
    session.headers.update(ALICE)
    return session


def test_pyvo_runs_binder_sessions_through_the_broker(
    broker: BrokerProcess, repos: dict[str, Path], hub: LocalHub
) -> None:
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = _pyvo_session()

    def create(repo: Path) -> AsyncTAPJob:
        created = session.post(
            f"{broker.url}/jobs",
            data={
                "kind": "interactive",
                "binder.repo": str(repo),
                "binder.ref": "main",
                "platform": "binder",
            },
            allow_redirects=False,
        )
        assert created.status_code == 303, created.text
        return AsyncTAPJob(created.headers["Location"], session=session)

    culled, broken = create(repos["short"]), create(repos["broken"])
    culled.run()
    broken.run()
    # the emulator culls "short" sessions a second after they are ready: it ends
    culled.wait(timeout=240)
    culled.raise_if_error()
    assert culled.phase == "COMPLETED", session.get(culled.url).text
    info = session.get(culled.url).text
    # the session's endpoint, as BinderHub names it: a temporary user named after the repository
    assert f"{hub.url}/user/{name_prefix(str(repos['short']))}-" in info
    broken.wait(timeout=240)
    assert broken.phase == "ERROR"
    with pytest.raises(DALQueryError, match=r"no environment\.yml"):
        broken.raise_if_error()
    for job in (culled, broken):
        assert hub.token.reveal() not in session.get(job.url).text
        job.delete()


def test_execution_broker_notebook_from_a_repository_is_accepted_and_serves(
    broker: BrokerProcess, tmp_path: Path, hub: LocalHub
) -> None:
    with serve_repo(make_repo(tmp_path / "tutorial"), "tutorial.git") as url:
        _accept_and_use_a_notebook_session(broker, url, hub)


def _accept_and_use_a_notebook_session(broker: BrokerProcess, url: str, hub: LocalHub) -> None:
    request = {
        "executable": {  # the notebook's location is a repository URL
            "kind": f"{K}executable/jupyter-notebook.yaml",
            "meta": {"name": "tutorial"},
            "location": url,
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": "PT10M"}},
    }
    with httpx.Client(base_url=broker.url, headers=ALICE, timeout=60) as http:
        answer = http.post("/requests", json=request, headers=JSON)
        assert answer.status_code == 303, answer.text
        offers = answer.json()
        assert offers["result"] == "YES", offers
        (offer,) = offers["offers"]
        assert "Binder session" in offer["meta"]["description"]
        session = offer["meta"]["uuid"]
        accept_offer(http, session)
        job = f"{broker.url}/jobs/{session}"
        assert wait_phase(http, job, {"EXECUTING", "ERROR", "ABORTED"}) == "EXECUTING"
        doc = session_with_connectors(http, session)
        (connector,) = doc["connectors"]
        location = connector["location"]
        assert location.startswith(f"{hub.url}/user/tutorial-")  # .../tutorial.git
        assert hub.token.reveal() not in location
        server = location.split("?")[0]
        token = httpx.URL(location).params["token"]
        with httpx.Client(timeout=60) as outside:
            served = outside.get(f"{server}api/status", headers={"Authorization": f"token {token}"})
            assert served.status_code == 200, served.text
            assert outside.get(f"{server}api/status").status_code in (302, 401, 403)
        cancelled = http.post(
            f"/sessions/{session}", json={"kind": UPDATE, "path": "phase", "value": "CANCELLED"}
        )
        assert cancelled.status_code == 200, cancelled.text
        assert wait_phase(http, job, {"ABORTED", "ERROR", "COMPLETED"}) == "ABORTED"
    with httpx.Client(timeout=60) as outside:
        deadline = time.monotonic() + 60
        while (
            outside.get(f"{server}api/status", headers={"Authorization": f"token {token}"})
        ).status_code == 200:
            assert time.monotonic() < deadline, "the session's server still serves"
            time.sleep(0.5)


async def test_the_sweep_after_a_restart_removes_an_orphan_and_nothing_else(
    broker: BrokerProcess, binder_url: str, hub: LocalHub, repos: dict[str, Path]
) -> None:
    """A session launched for a job the broker does not know, its record lost (the broker
    killed before it wrote either), is swept after a restart; another broker's session
    on the same hub (a BinderHub launch of someone's browser, untagged, then tagged by
    another instance) and another user's server are neither listed nor touched. Runs
    last: it restarts the module's broker."""
    ctx = CallContext(owner="alice")
    orphan = f"orphan-{uuid.uuid4().hex[:8]}"
    # the broker's own instance (its name, its tag and its data folder)
    ours = BinderHubAdapter(
        "binder",
        adapter_config(binder_url, hub, hub_tag=TAG),
        AdapterDeps(data_dir=broker.workdir / "broker-work" / "binder"),
    )
    browser = BinderClient(binder_url, Secret(BINDER_TOKEN))
    spec = f"git/{quote(str(repos['session']), safe='')}/main"
    async with ours, Hub(hub.url, hub.token) as client:

        async def launch() -> tuple[Handle, str]:
            request = ExecutionRequest(
                job_id=orphan,
                owner="alice",
                kind="interactive",
                extensions={"binder.repo": str(repos["session"]), "binder.ref": "main"},
            )
            (offer,) = await ours.offers(request, ctx)
            handle = await ours.submit(request, offer, ctx)
            return handle, await ready_endpoint(ours, handle, ctx)

        async def browse() -> str:
            events = [dict(e) async for e in browser.build(spec)]
            return str(events[-1]["url"])

        async def other_user() -> None:  # not BinderHub's (its name is not made from a repo)
            await client.create_user("alice-lab")
            options = {"repo_url": str(repos["session"]), "binder_request": f"v2/{spec}"}
            await client.start_server("alice-lab", "lab", options)

        (handle, url), browsed, _ = await asyncio.gather(launch(), browse(), other_user())
        await browser.aclose()
        ours._store.remove(handle.native_id)  # the record lost
        user_of = {u: httpx.URL(u).path.strip("/").split("/")[-1] for u in (url, browsed)}
        spared = {(user_of[browsed], ""), ("alice-lab", "lab")}
        assert spared | {(user_of[url], "")} <= await hub_servers(hub)
        native = await ours.list_native(ctx)
        assert native[handle.native_id] == orphan
        assert not {n for n, j in native.items() if j == orphan} - {handle.native_id}

        async def tagged_users() -> set[str]:
            return {t.server.user for t in await ours.tags.ours()}

        assert user_of[url] in await tagged_users()
        assert user_of[browsed] not in await tagged_users()  # the browser's launch: no tag
        # and now it is another broker's session on the same hub
        await SessionTags(client, "another-broker").put("foreign-job", user_of[browsed], "")
        assert user_of[browsed] not in await tagged_users()

        broker.kill()
        broker.launch().ready(timeout=120)

        async def swept() -> bool:
            return (user_of[url], "") not in await hub_servers(hub)

        await wait_until(swept, timeout=120)
        assert spared <= await hub_servers(hub)
        assert await client.user(user_of[url]) is None  # BinderHub's temporary user too
        log = broker.log_text()
        assert log.count("removing orphan") == 1, log[-3000:]
        assert f"removing orphan {handle.native_id}" in log
        # tidy up what is not the broker's
        for user in (user_of[browsed], "alice-lab"):
            found = await client.user(user)
            assert found is not None
            for server in found.servers.values():
                await client.stop(server)
            await client.delete_user(user)
