"""Container jobs on both real engines: resources, OOM, streams, files, security
defaults, image policy, sessions, re-attach. Each test runs on Docker and on Podman."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from docker_engines import IMAGE, Engine
from docker_support import config_for, instance_name
from ivoa_broker_docker import DockerAdapter

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    EndReason,
    ExecutionRequest,
    Handle,
    Phase,
    Resources,
    StagedInput,
    Status,
)
from ivoa_broker.testing import TERMINAL, new_job_id, wait_for_phase

MakeAdapter = Callable[..., Awaitable[DockerAdapter]]
MiB = 2**20


def job(*command: str, **kw: Any) -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id("dk"), owner="alice", command=command, **kw)


async def start(adapter: DockerAdapter, request: ExecutionRequest, call: CallContext) -> Handle:
    offers = await adapter.offers(request, call)
    assert offers, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], call)


async def finish(adapter: DockerAdapter, handle: Handle, call: CallContext) -> Status:
    history = await wait_for_phase(adapter, handle, TERMINAL, ctx=call, max_wait=60)
    return history[-1]


def inspect(engine: Engine, handle: Handle) -> dict[str, Any]:
    api = engine.client()
    try:
        return dict(api.inspect_container(handle.native_id))
    finally:
        api.close()


def texts(refs: list[Any]) -> dict[str, str]:
    return {r.id: r.path.read_text() for r in refs if r.path is not None}


async def test_oom_kill_is_error_naming_out_of_memory(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    adapter = await make_adapter()
    request = job(
        "sh", "-c", "x=a; while true; do x=$x$x; done", resources=Resources(memory_bytes=16 * MiB)
    )
    status = await finish(adapter, await start(adapter, request, call), call)
    assert status.phase == Phase.ERROR, status
    assert status.reason == EndReason.OUT_OF_MEMORY, status
    assert status.message is not None and "out of memory" in status.message
    assert status.exit_code == 137


async def test_exit_code_streams_env_and_output_files(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    adapter = await make_adapter()
    script = (
        "echo out-$GREETING; echo err-line >&2; echo data > $IVOA_BROKER_OUTPUT/result.txt; "
        "mkdir $IVOA_BROKER_OUTPUT/sub; echo deep > $IVOA_BROKER_OUTPUT/sub/b.txt; exit 5"
    )
    request = job("sh", "-c", script, env={"GREETING": "hi"})
    handle = await start(adapter, request, call)
    status = await finish(adapter, handle, call)
    assert (status.phase, status.exit_code, status.reason) == (
        Phase.ERROR,
        5,
        EndReason.EXIT_NONZERO,
    )
    found = texts(await adapter.results(handle, call))
    assert found["stdout"] == "out-hi\n"
    assert found["stderr"] == "err-line\n"
    assert found["result.txt"] == "data\n"
    assert found["sub__b.txt"] == "deep\n"
    assert "out-hi" in await adapter.logs(handle, call)


async def test_archive_transfer_copies_output_out_of_the_container(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    adapter = await make_adapter(transfer="archive")
    handle = await start(adapter, job("sh", "-c", "echo far > $IVOA_BROKER_OUTPUT/far.txt"), call)
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    assert handle.state["bind"] is False
    assert texts(await adapter.results(handle, call))["far.txt"] == "far\n"


async def test_cores_and_memory_reach_the_engine(
    make_adapter: MakeAdapter, engine: Engine, call: CallContext
) -> None:
    adapter = await make_adapter()
    request = job("sleep", "30", resources=Resources(cores=0.5, memory_bytes=64 * MiB))
    handle = await start(adapter, request, call)
    host = inspect(engine, handle)["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * MiB
    labels = inspect(engine, handle)["Config"]["Labels"]
    assert labels["org.ivoa.broker.job"] == request.job_id
    assert labels["org.ivoa.broker.instance"] == adapter.name
    await adapter.cleanup(handle, call)


async def test_security_defaults(
    make_adapter: MakeAdapter, engine: Engine, call: CallContext
) -> None:
    adapter = await make_adapter()
    script = (
        "grep CapEff /proc/self/status; cat /proc/mounts; "
        "test -e /var/run/docker.sock && echo SOCKET-VISIBLE; echo done"
    )
    handle = await start(adapter, job("sh", "-c", script), call)
    attrs = inspect(engine, handle)
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert not host.get("CapAdd")
    assert host["NetworkMode"] == "none"
    assert host.get("PidMode") in ("", "private", None)
    assert "no-new-privileges" in (host.get("SecurityOpt") or [])
    binds = [m["Source"] for m in attrs["Mounts"] if m.get("Type") == "bind"]
    assert binds == [str(adapter.deps.data_dir / "jobs" / handle.native_id / "output")]
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    out = texts(await adapter.results(handle, call))["stdout"]
    assert "SOCKET-VISIBLE" not in out and "done" in out
    assert str(engine.socket) not in out and "docker.sock" not in out and "podman.sock" not in out
    cap_eff = int(out.split("CapEff:")[1].split()[0], 16)
    assert not cap_eff & (1 << 21), "CAP_SYS_ADMIN must not be granted"


async def test_read_only_rootfs_and_non_root_user(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    adapter = await make_adapter(read_only_rootfs=True, user="65534:65534")
    script = (
        "id -u; touch /probe 2>/dev/null || echo READ-ONLY; echo mine > $IVOA_BROKER_OUTPUT/o.txt"
    )
    handle = await start(adapter, job("sh", "-c", script), call)
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    found = texts(await adapter.results(handle, call))
    assert found["stdout"].split() == ["65534", "READ-ONLY"]
    assert found["o.txt"] == "mine\n"


def host_namespaces() -> dict[str, str]:
    return {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("pid", "ipc", "net")}


NS_SCRIPT = "for n in pid ipc net; do echo $n=$(readlink /proc/self/ns/$n); done"


def namespaces_in(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.split() if "=" in line)


async def test_no_host_namespace_by_default(make_adapter: MakeAdapter, call: CallContext) -> None:
    adapter = await make_adapter()
    handle = await start(adapter, job("sh", "-c", NS_SCRIPT), call)
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    inside = namespaces_in(texts(await adapter.results(handle, call))["stdout"])
    host = host_namespaces()
    assert all(inside[ns] != host[ns] for ns in host), (inside, host)


async def test_host_namespaces_only_when_configured(
    make_adapter: MakeAdapter, engine: Engine, call: CallContext
) -> None:
    # Podman's inspect says IpcMode "shareable" even with the host's IPC namespace,
    # so the namespaces are read from inside the container
    adapter = await make_adapter(pid_host=True, ipc_host=True)
    handle = await start(adapter, job("sh", "-c", NS_SCRIPT), call)
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    inside = namespaces_in(texts(await adapter.results(handle, call))["stdout"])
    host = host_namespaces()
    assert (inside["pid"], inside["ipc"]) == (host["pid"], host["ipc"])
    assert inside["net"] != host["net"]
    assert inspect(engine, handle)["HostConfig"]["PidMode"] == "host"


async def test_pull_policies_refuse_images_naming_them(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    never = await make_adapter(pull_policy="never")
    absent = job("true", image="localhost/absent:1")
    assert await never.offers(absent, call) == []
    assert "localhost/absent:1" in (never.explain_refusal(absent) or "")
    assert await never.offers(job("true", image=IMAGE), call)
    missing = await make_adapter(pull_policy="if-missing")
    assert await missing.offers(job("true", image=IMAGE), call)  # present: no pull needed
    assert await missing.offers(absent, call) == []
    assert "localhost/absent:1" in (missing.explain_refusal(absent) or "")
    always = await make_adapter(pull_policy="always")  # no registry can be reached here
    present = job("true", image=IMAGE)
    assert await always.offers(present, call) == []
    assert IMAGE in (always.explain_refusal(present) or "")


async def test_allow_list_and_engine_limits(make_adapter: MakeAdapter, call: CallContext) -> None:
    adapter = await make_adapter(allowed_images=["localhost/tiny:*"])
    assert await adapter.offers(job("true", image=IMAGE), call)
    other = job("true", image="docker.io/library/alpine:3")
    assert await adapter.offers(other, call) == []
    assert "docker.io/library/alpine:3" in (adapter.explain_refusal(other) or "")
    assert adapter.engine is not None
    big = job("true", resources=Resources(cores=adapter.engine.cpus + 1))
    assert await adapter.offers(big, call) == []
    assert "cores" in (adapter.explain_refusal(big) or "")
    huge = job("true", resources=Resources(memory_bytes=adapter.engine.memory_bytes + 1))
    assert await adapter.offers(huge, call) == []
    gpu = job("true", resources=Resources(gpus=1))
    assert await adapter.offers(gpu, call) == []
    assert "GPU" in (adapter.explain_refusal(gpu) or "")
    assert adapter.capabilities.gpus is False


async def test_interactive_session_endpoint_answers(
    make_adapter: MakeAdapter, call: CallContext
) -> None:
    adapter = await make_adapter(interactive_port=8080)
    request = job("httpd", "-f", "-p", "8080", "-h", "/www", kind="interactive", image=IMAGE)
    handle = await start(adapter, request, call)
    history = await wait_for_phase(adapter, handle, {Phase.EXECUTING}, ctx=call, max_wait=60)
    endpoint = history[-1].endpoint
    assert endpoint is not None and endpoint.startswith("http://127.0.0.1:")
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(endpoint, timeout=5).read())
    assert body == b"ok\n"
    await adapter.cancel(handle.__class__(**{**handle.__dict__, "cancel_requested": True}), call)
    assert (await finish(adapter, handle, call)).phase == Phase.ABORTED
    await adapter.cleanup(handle, call)


async def test_reattach_sees_a_container_that_ended_while_the_broker_was_down(
    make_adapter: MakeAdapter, engine: Engine, call: CallContext
) -> None:
    first = await make_adapter()
    request = job("sh", "-c", "sleep 1; echo farewell; exit 4")
    handle = await start(first, request, call)
    await first.__aexit__(None, None, None)  # the broker goes down
    deadline = time.monotonic() + 60
    while inspect(engine, handle)["State"]["Status"] != "exited":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    again = DockerAdapter(first.name, first.config, first.deps)
    async with again:
        assert (await again.list_native(call))[handle.native_id] == request.job_id
        status = (await again.status_many([Handle.from_json(handle.to_json())], call))[
            handle.native_id
        ]
        assert (status.phase, status.exit_code) == (Phase.ERROR, 4)
        assert "farewell" in await again.logs(handle, call)
        await again.cleanup(handle, call)
    await first.__aenter__()  # the fixture closes it again


async def test_release_keeps_results_and_end_then_removes_the_container(
    make_adapter: MakeAdapter, engine: Engine, call: CallContext
) -> None:
    adapter = await make_adapter()
    handle = await start(adapter, job("sh", "-c", "echo kept"), call)
    assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
    await adapter.release(handle, call)
    api = engine.client()
    assert not api.containers(all=True, filters={"name": handle.native_id})
    api.close()
    status = (await adapter.status_many([handle], call))[handle.native_id]
    assert status.phase == Phase.COMPLETED
    assert texts(await adapter.results(handle, call))["stdout"] == "kept\n"
    await adapter.cleanup(handle, call)
    assert await adapter.status_many([handle], call) == {}


async def test_a_relative_data_dir_is_bind_mounted_by_its_absolute_path(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: CallContext
) -> None:
    """A broker started without a config (or with a relative one) gives a relative
    data_dir; the engine would take a relative bind source for a volume name."""
    monkeypatch.chdir(tmp_path)
    deps = AdapterDeps(data_dir=Path("broker-work") / "dk")
    async with DockerAdapter(instance_name(), config_for(engine), deps) as adapter:
        handle = await start(adapter, job("sh", "-c", "echo rel > $IVOA_BROKER_OUTPUT/r.txt"), call)
        try:
            assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
            assert texts(await adapter.results(handle, call))["r.txt"] == "rel\n"
        finally:
            await adapter.cleanup(handle, call)


async def test_staged_inputs_are_bound_read_only_and_urls_named(
    make_adapter: MakeAdapter, tmp_path: Path, call: CallContext
) -> None:
    """The core's staged files exist only while submit runs: the adapter keeps them in the
    job folder and binds them read-only; over the archive API only the URLs reach the job."""
    adapter = await make_adapter()
    assert adapter.capabilities.staged_inputs
    staged_dir = tmp_path / "staged"
    staged_dir.mkdir()
    (staged_dir / "000-table.csv").write_text("a,b\n1,2\n")
    url = "https://data.example/table.csv"
    script = (
        'cat "$IVOA_BROKER_INPUT_DIR/000-table.csv"; echo "urls=$IVOA_BROKER_INPUT_URLS"; '
        'if echo x > "$IVOA_BROKER_INPUT_DIR/new" 2>/dev/null; then echo writable; fi'
    )
    request = job(
        "sh",
        "-c",
        script,
        inputs=(url,),
        staged_inputs=(StagedInput(url, str(staged_dir / "000-table.csv"), 8),),
    )
    handle = await start(adapter, request, call)
    for item in staged_dir.iterdir():  # gone as the core's folder is when submit returns
        item.unlink()
    try:
        assert (await finish(adapter, handle, call)).phase == Phase.COMPLETED
        out = texts(await adapter.results(handle, call))["stdout"]
        assert out == f"a,b\n1,2\nurls={url}\n", out
    finally:
        await adapter.cleanup(handle, call)
    remote = await make_adapter(transfer="archive")
    assert not remote.capabilities.staged_inputs  # the core then passes URLs only
