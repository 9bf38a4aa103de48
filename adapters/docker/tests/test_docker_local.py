"""The ``local`` platform running ``docker-container`` requests on both real engines: its
embedded docker adapter (``ivoa_broker_local._container``), through the local adapter's
contract and through a broker process (an ExecutionBroker offer accepted over HTTP).

Here and not under ``adapters/local`` because they need the engines this folder's
session fixture starts (one xdist group)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker_engines import IMAGE, ContainerEngines, Engine
from docker_support import assert_unlisted_image_refused, container_request, instance_name
from ivoa_broker_local import LocalAdapter, LocalConfig

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    Handle,
    Phase,
    ResultRef,
    StagedInput,
    Status,
)
from ivoa_broker.testing import TERMINAL, WakeSignal, new_job_id, wait_for_phase
from ivoa_broker.testing.broker_http import accept_offer, messages_of, session_results, wait_phase
from tests.eb_http.docs import offerset
from tests.server import BrokerProcess

MakeLocal = Callable[[], Awaitable[LocalAdapter]]
JSON = {"Accept": "application/json"}


def container_config(engine: Engine) -> dict[str, Any]:
    return {
        "pull_policy": "never",
        "interactive_network": engine.network,
        "stop_grace_seconds": 2,
    }


@pytest.fixture
async def make_local(engine: Engine, tmp_path: Path) -> AsyncIterator[MakeLocal]:
    """``await make_local()``: an entered local adapter whose containers run on ``engine``;
    every call gives a fresh instance of the same platform (same name and data_dir), as a
    broker restart does."""
    name = instance_name()
    opened: list[LocalAdapter] = []
    config = LocalConfig(
        sandbox="none", containers=engine.host, container_config=container_config(engine)
    )

    async def make() -> LocalAdapter:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=WakeSignal())
        adapter = LocalAdapter(name, config, deps)
        await adapter.__aenter__()
        opened.append(adapter)
        return adapter

    yield make
    api = engine.client()
    for c in api.containers(all=True, filters={"label": f"org.ivoa.broker.instance={name}"}):
        api.remove_container(c["Id"], force=True, v=True)
    api.close()
    for adapter in opened:
        await adapter.__aexit__(None, None, None)


def container_job(*command: str) -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id("lc"), owner="alice", command=command, image=IMAGE)


async def start(adapter: LocalAdapter, request: ExecutionRequest, call: CallContext) -> Handle:
    offers = await adapter.offers(request, call)
    assert len(offers) == 1, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], call)


async def finish(adapter: LocalAdapter, handle: Handle, call: CallContext) -> Status:
    return (await wait_for_phase(adapter, handle, TERMINAL, ctx=call, max_wait=60))[-1]


def texts(refs: list[ResultRef]) -> dict[str, str]:
    return {r.id: r.path.read_text() for r in refs if r.path is not None}


def containers_named(engine: Engine, name: str) -> list[Any]:
    api = engine.client()
    try:
        return list(api.containers(all=True, filters={"name": name}))
    finally:
        api.close()


async def test_inputs_the_core_staged_reach_the_container(
    make_local: MakeLocal, tmp_path: Path, call: CallContext
) -> None:
    """local says staged_inputs for every job: a container job gets its files too."""
    adapter = await make_local()
    source = tmp_path / "000-in.txt"
    source.write_text("staged\n")
    url = "https://data.example/in.txt"
    request = dataclasses.replace(
        container_job("sh", "-c", 'cat "$IVOA_BROKER_INPUT_DIR/000-in.txt"'),
        inputs=(url,),
        staged_inputs=(StagedInput(url, str(source), 7),),
    )
    handle = await start(adapter, request, call)
    source.unlink()  # the core's folder is gone once submit returns
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    assert texts(await adapter.results(handle, call))["stdout"] == "staged\n"
    await adapter.cleanup(handle, call)


async def test_a_container_job_runs_to_completed_beside_a_process_job(
    make_local: MakeLocal, engine: Engine, call: CallContext
) -> None:
    adapter = await make_local()
    assert adapter.capabilities.images is True
    health = await adapter.health()
    assert health.ok, health
    assert f"containers on {engine.kind} " in health.message
    assert "work dir" in health.message

    request = container_job("sh", "-c", "echo hi; echo f > $IVOA_BROKER_OUTPUT/f.txt")
    [offer] = await adapter.offers(request, call)
    assert offer.adapter == adapter.name
    assert offer.summary.startswith(f"container {IMAGE} on {engine.kind} ")
    handle = await adapter.submit(request, offer, call)
    assert handle.adapter == adapter.name
    assert handle.state["engine"] == engine.kind

    process = ExecutionRequest(job_id=new_job_id("lp"), owner="alice", command=("echo", "proc"))
    ran = await start(adapter, process, call)
    assert "engine" not in ran.state

    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    assert (await finish(adapter, ran, call)).phase == Phase.COMPLETED
    found = texts(await adapter.results(handle, call))
    assert found["stdout"] == "hi\n"
    assert found["f.txt"] == "f\n"
    assert "hi" in await adapter.logs(handle, call)
    assert texts(await adapter.results(ran, call))["stdout"] == "proc\n"
    assert await adapter.list_native(call) == {
        handle.native_id: request.job_id,
        ran.native_id: process.job_id,
    }
    both = await adapter.status_many([handle, ran], call)
    assert {s.phase for s in both.values()} == {Phase.COMPLETED}

    await adapter.release(handle, call)  # the container goes, its results stay
    assert containers_named(engine, handle.native_id) == []
    assert texts(await adapter.results(handle, call))["stdout"] == "hi\n"
    for each in (handle, ran):
        await adapter.cleanup(each, call)
    assert await adapter.status_many([handle, ran], call) == {}
    assert await adapter.list_native(call) == {}


async def test_cancel_then_cleanup_of_a_container_job(
    make_local: MakeLocal, engine: Engine, call: CallContext
) -> None:
    adapter = await make_local()
    handle = await start(adapter, container_job("sleep", "300"), call)
    await wait_for_phase(adapter, handle, {Phase.EXECUTING}, ctx=call, max_wait=60)
    await adapter.cancel(handle, call)
    status = await finish(adapter, handle, call)
    assert status.phase == Phase.ABORTED, status
    await adapter.cancel(handle, call)  # idempotent on an ended job
    await adapter.cleanup(handle, call)
    assert containers_named(engine, handle.native_id) == []
    assert (
        not (adapter.containers.deps.data_dir / "containers" / "jobs")
        .joinpath(handle.native_id)
        .exists()
    )
    await adapter.cleanup(handle, call)  # idempotent


async def test_a_restarted_local_platform_finds_its_container_jobs(
    make_local: MakeLocal, engine: Engine, call: CallContext
) -> None:
    """After a restart the stored Handle routes to the engine; an orphan's bare handle
    (only ``native_id``, as the core's sweep makes it) is known by its container name."""
    first = await make_local()
    request = container_job("sleep", "300")
    handle = await start(first, request, call)
    orphan_request = container_job("sleep", "300")
    orphan = await start(first, orphan_request, call)
    await first.__aexit__(None, None, None)  # the broker goes down; the containers run on

    again = await make_local()
    stored = Handle.from_json(handle.to_json())
    assert (await again.status(stored, call)).phase == Phase.EXECUTING
    native = await again.list_native(call)
    assert native == {handle.native_id: request.job_id, orphan.native_id: orphan_request.job_id}
    await again.cancel(stored, call)
    assert (await finish(again, stored, call)).phase == Phase.ABORTED
    await again.cleanup(stored, call)

    bare = Handle(adapter=again.name, native_id=orphan.native_id)
    await again.cleanup(bare, call)
    assert containers_named(engine, orphan.native_id) == []
    assert await again.list_native(call) == {}
    await first.__aenter__()  # the fixture closes it again


# ----------------------------------------------------------------- through a broker


@pytest.fixture(scope="module")
def broker(
    container_engines: ContainerEngines, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    """Two local platforms running containers (on dockerd, on Podman), and one whose
    containers are off."""
    workdir = tmp_path_factory.mktemp("local-broker")
    blocks = []
    for name, kind in (("ldocker", "docker"), ("lpodman", "podman")):
        engine = container_engines.engines[kind]
        blocks.append(
            f'[adapters.{name}]\nplugin = "local"\n[adapters.{name}.config]\n'
            f'sandbox = "none"\ncontainers = "{engine.host}"\n'
            f"[adapters.{name}.config.container_config]\n"
            f'pull_policy = "never"\nallowed_images = ["localhost/*"]\nstop_grace_seconds = 2\n'
        )
    blocks.append(
        '[adapters.plain]\nplugin = "local"\n'
        '[adapters.plain.config]\nsandbox = "none"\ncontainers = "off"\n'
    )
    config = "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n" + "".join(blocks)
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


def test_execution_broker_container_offer_of_local_is_accepted_and_runs(
    broker: BrokerProcess,
) -> None:
    with httpx.Client(base_url=broker.url, timeout=30) as http:
        found = offerset(http, container_request(IMAGE, "echo", "from-local"))
        assert found["result"] == "YES", found
        offers = found["offers"]
        assert len(offers) == 2, offers  # ldocker and lpodman; plain says why not
        notes = messages_of(found)
        assert "the local adapter cannot run container images" in notes, notes
        assert 'its config says containers = "off"' in notes, notes
        session = offers[0]["meta"]["uuid"]
        accept_offer(http, session)
        phase = wait_phase(http, f"/jobs/{session}", {"COMPLETED", "ERROR", "ABORTED"}, 90)
        assert phase == "COMPLETED"
        results = session_results(http, session)
        assert http.get(results["stdout"]).text == "from-local\n"

        assert_unlisted_image_refused(http)


def test_make_serve_defaults_run_a_container_on_the_hosts_engine(
    container_engines: ContainerEngines, tmp_path: Path
) -> None:
    """The broker as ``make serve`` starts it (no config: the local platform alone, its
    ``containers = "auto"``) on a host whose engine is ``DOCKER_HOST``: the README's
    docker-container request gets local's YES offer, and accepting it runs the container."""
    engine = container_engines.engines["docker"]
    process = BrokerProcess(tmp_path, env={"DOCKER_HOST": engine.host}).start()
    try:
        with httpx.Client(base_url=process.url, timeout=30) as http:
            found = offerset(http, container_request(IMAGE, "echo", "auto"))
            assert found["result"] == "YES", found
            [offer] = found["offers"]
            assert offer["meta"]["name"] == "local"
            assert f"container {IMAGE} on docker" in offer["meta"]["description"]
            session = offer["meta"]["uuid"]
            accept_offer(http, session)
            phase = wait_phase(http, f"/jobs/{session}", {"COMPLETED", "ERROR", "ABORTED"}, 90)
            assert phase == "COMPLETED", http.get(f"/jobs/{session}", headers=JSON).text
            assert http.get(f"/jobs/{session}/results/stdout").text == "auto\n"
    finally:
        process.stop()
