"""SSH-specific behaviour on the real sshd: results, env, walltime, batching, orphans."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_ssh import SSHAdapter, SSHConfig
from ivoa_broker_ssh._client import RemoteResult
from sshd_server import SSHServer

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    Handle,
    InvalidRequest,
    Phase,
    Resources,
    Status,
)
from ivoa_broker.testing import TERMINAL, new_job_id, wait_for_phase

CTX = CallContext(owner="tester")
MAX_WAIT = 30.0


@pytest.fixture
def config(sshd: SSHServer) -> SSHConfig:
    return SSHConfig(
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.user,
        key_file=sshd.client_key,
        known_hosts=sshd.known_hosts,
        work_dir=str(sshd.work_dir / uuid.uuid4().hex[:8]),
        max_cores=4,
        max_walltime_seconds=3600,
        kill_grace_seconds=1,
    )


@pytest.fixture
async def adapter(config: SSHConfig, tmp_path: Path) -> AsyncIterator[SSHAdapter]:
    adapter = SSHAdapter("ssh-jobs", config, AdapterDeps(data_dir=tmp_path / "data"))
    async with adapter:
        yield adapter


async def run(adapter: SSHAdapter, *argv: str, **fields: Any) -> tuple[Handle, Status]:
    request = ExecutionRequest(job_id=new_job_id(), command=argv, **fields)
    offer = (await adapter.offers(request, CTX))[0]
    handle = await adapter.submit(request, offer, CTX)
    history = await wait_for_phase(adapter, handle, TERMINAL, ctx=CTX, max_wait=MAX_WAIT)
    return handle, history[-1]


async def test_results_are_staged_with_env_and_output_files(adapter: SSHAdapter) -> None:
    script = 'echo "$GREETING"; mkdir sub; echo data > sub/table.csv; echo warn >&2'
    handle, status = await run(adapter, "sh", "-c", script, env={"GREETING": "hi there"})
    assert status.phase == Phase.COMPLETED
    assert status.started_at is not None
    assert status.ended_at is not None
    refs = {r.id: r for r in await adapter.results(handle, CTX)}
    assert set(refs) == {"stdout", "stderr", "out/sub/table.csv"}
    stdout = refs["stdout"].path
    assert stdout is not None
    assert stdout.read_text() == "hi there\n"
    assert stdout.is_relative_to(adapter.deps.data_dir)
    table = refs["out/sub/table.csv"]
    assert table.path is not None
    assert (table.path.read_text(), table.mime_type, table.size) == ("data\n", "text/csv", 5)
    assert "warn" in await adapter.logs(handle, CTX)
    await adapter.cleanup(handle, CTX)
    assert not (adapter.deps.data_dir / "results" / handle.native_id).exists()


async def test_walltime_ends_the_job_as_error(adapter: SSHAdapter) -> None:
    _, status = await run(adapter, "sleep", "30", resources=Resources(walltime_seconds=1))
    assert (status.phase, status.exit_code) == (Phase.ERROR, 124)
    assert status.message == "the job ran out of wall time"


async def test_missing_executable_is_error_127(adapter: SSHAdapter) -> None:
    _, status = await run(adapter, "surely-no-such-program-here")
    assert (status.phase, status.exit_code) == (Phase.ERROR, 127)


async def test_status_is_one_ssh_command_for_all_handles(
    adapter: SSHAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    handles = []
    for _ in range(5):
        request = ExecutionRequest(job_id=new_job_id(), command=("sleep", "60"))
        handles.append(await adapter.submit(request, (await adapter.offers(request, CTX))[0], CTX))
    scripts: list[str] = []
    real_run = adapter.client.run

    async def spy(script: str, *, check: bool = True) -> RemoteResult:
        scripts.append(script)
        return await real_run(script, check=check)

    monkeypatch.setattr(adapter.client, "run", spy)
    found = await adapter.status_many(handles, CTX)
    assert len(scripts) == 1
    assert {s.phase for s in found.values()} <= {Phase.QUEUED, Phase.EXECUTING}
    assert set(found) == {h.native_id for h in handles}
    for handle in handles:
        await adapter.cleanup(handle, CTX)


async def test_fresh_instance_lists_orphans_by_job_id(
    adapter: SSHAdapter, config: SSHConfig, tmp_path: Path
) -> None:
    request = ExecutionRequest(job_id=new_job_id(), command=("sleep", "60"))
    handle = await adapter.submit(request, (await adapter.offers(request, CTX))[0], CTX)
    fresh = SSHAdapter("ssh-jobs", config, AdapterDeps(data_dir=tmp_path / "fresh"))
    async with fresh:
        assert dict(await fresh.list_native(CTX)) == {handle.native_id: request.job_id}
        await fresh.cleanup(handle, CTX)
        assert dict(await fresh.list_native(CTX)) == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "interactive"},
        {"image": "docker.io/library/busybox"},
        {"resources": Resources(gpus=1)},
        {"resources": Resources(cores=5)},
        {"resources": Resources(walltime_seconds=7200)},
    ],
)
async def test_offers_refuse_what_the_host_cannot_do(
    adapter: SSHAdapter, changes: dict[str, Any]
) -> None:
    request = ExecutionRequest(job_id=new_job_id(), command=("true",))
    assert await adapter.offers(request, CTX)
    assert await adapter.offers(dataclasses.replace(request, **changes), CTX) == []


async def test_submit_rechecks_request_and_offer(adapter: SSHAdapter) -> None:
    request = ExecutionRequest(job_id=new_job_id(), command=("true",))
    offer = (await adapter.offers(request, CTX))[0]
    foreign = dataclasses.replace(offer, terms={"host": "elsewhere.example"})
    with pytest.raises(InvalidRequest, match="another SSH host"):
        await adapter.submit(request, foreign, CTX)
    for bad in (
        dataclasses.replace(request, job_id="../escape"),
        dataclasses.replace(request, env={"BAD NAME": "x"}),
        dataclasses.replace(request, resources=Resources(gpus=2)),
    ):
        with pytest.raises(InvalidRequest):
            await adapter.submit(bad, offer, CTX)
    assert dict(await adapter.list_native(CTX)) == {}
