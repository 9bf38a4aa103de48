"""Endings Slurm really produces on the test cluster, in both client modes at once:
OUT_OF_MEMORY (the cgroup memory limit of --mem), TIMEOUT (--time from the request's
deadline, in minutes rounded up), and jobs that left squeue found again through accounting
(sacct / slurmdbd), with their usage. One test, so the one-minute TIMEOUT is waited for once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from ivoa_broker_slurm import SlurmAdapter
from slurm_cluster import LocalCluster, cli_config, rest_config

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    EndReason,
    ExecutionRequest,
    Handle,
    Phase,
    Resources,
    Status,
    utcnow,
)

CTX = CallContext(owner="endings")
TERMINAL = {Phase.COMPLETED, Phase.ERROR, Phase.ABORTED}
#: a python that really fills 300 MB (bytes * n writes every page)
HOG = ("python3", "-c", "import time; a = b'x' * (300 * 1024 * 1024); time.sleep(30)")


@pytest.fixture
async def adapters(slurm: LocalCluster, tmp_path: Path) -> AsyncIterator[list[SlurmAdapter]]:
    cli = SlurmAdapter("end-cli", cli_config(slurm), AdapterDeps(data_dir=tmp_path / "cli"))
    rest = SlurmAdapter("end-rest", rest_config(slurm), AdapterDeps(data_dir=tmp_path / "rest"))
    async with cli, rest:
        yield [cli, rest]


def _request(command: tuple[str, ...], **changes: object) -> ExecutionRequest:
    return ExecutionRequest(job_id=str(uuid.uuid4()), owner="endings", command=command, **changes)  # type: ignore[arg-type]


async def _submit(adapter: SlurmAdapter, request: ExecutionRequest) -> Handle:
    offers = await adapter.offers(request, CTX)
    assert offers, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], CTX)


async def _until(
    adapter: SlurmAdapter, handles: list[Handle], done: set[Phase], limit: float
) -> dict[str, Status]:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        found = dict(await adapter.status_many(handles, CTX))
        if all(found[h.native_id].phase in done for h in handles):
            return found
        assert loop.time() < end, {k: (v.phase, v.native_state) for k, v in found.items()}
        await asyncio.sleep(1.0)


async def test_oom_timeout_and_accounting_after_the_queue(
    adapters: list[SlurmAdapter], slurm: LocalCluster
) -> None:
    jobs: list[tuple[SlurmAdapter, dict[str, Handle]]] = []
    for adapter in adapters:
        handles = {
            "oom": await _submit(
                adapter, _request(HOG, resources=Resources(memory_bytes=50 * 1024 * 1024))
            ),
            "timeout": await _submit(
                adapter, _request(("sleep", "300"), deadline=utcnow() + timedelta(seconds=30))
            ),
            "ok": await _submit(adapter, _request(("sh", "-c", "echo done"))),
            "fail": await _submit(adapter, _request(("sh", "-c", "exit 3"))),
        }
        jobs.append((adapter, handles))
    # the deadline 30 s away became --time=1 (minutes, rounded up)
    shown = slurm.command("scontrol", "-o", "show", "job", jobs[0][1]["timeout"].native_id)
    assert "TimeLimit=00:01:00" in shown.stdout

    for adapter, handles in jobs:
        found = await _until(adapter, list(handles.values()), TERMINAL, 150)
        oom = found[handles["oom"].native_id]
        assert (oom.phase, oom.native_state, oom.reason) == (
            Phase.ERROR,
            "OUT_OF_MEMORY",
            EndReason.OUT_OF_MEMORY,
        ), oom
        assert oom.message and "memory" in oom.message
        timeout = found[handles["timeout"].native_id]
        assert (timeout.phase, timeout.native_state, timeout.reason) == (
            Phase.ERROR,
            "TIMEOUT",
            EndReason.TIMEOUT,
        ), timeout
        assert timeout.ended_at and timeout.started_at
        assert timeout.ended_at - timeout.started_at >= timedelta(seconds=60)

    # the short jobs leave the controller (MinJobAge) and are found in accounting
    short = [(a, h[k]) for a, h in jobs for k in ("ok", "fail")]
    loop = asyncio.get_running_loop()
    end = loop.time() + 150

    def still_queued() -> bool:
        listed = set(slurm.command("squeue", "-h", "-t", "all", "-o", "%i").stdout.split())
        return any(h.native_id in listed for _, h in short)

    while still_queued():
        assert loop.time() < end, "ended jobs stayed in squeue"
        await asyncio.sleep(2)
    for adapter, handles in jobs:
        fresh = SlurmAdapter(adapter.name, adapter.config, adapter.deps)
        async with fresh:
            found = dict(await fresh.status_many([handles["ok"], handles["fail"]], CTX))
        ok, fail = found[handles["ok"].native_id], found[handles["fail"].native_id]
        assert (ok.phase, ok.exit_code) == (Phase.COMPLETED, 0), ok
        assert ok.usage is not None and ok.usage.elapsed_seconds is not None
        assert ok.usage.cpu_seconds is not None
        assert (fail.phase, fail.native_state) == (Phase.ERROR, "FAILED"), fail
        assert fail.reason is EndReason.EXIT_NONZERO
        if adapter.config.mode == "cli":
            assert fail.exit_code == 3  # sacct's ExitCode 3:0
            assert ok.usage.max_rss_bytes
        if adapter.config.mode == "cli":
            # the job completion log (no slurmdbd needed) says the same, without usage
            log = adapter.config.model_copy(update={"accounting": "jobcomp"})
            async with SlurmAdapter(adapter.name, log, adapter.deps) as from_log:
                [again] = (await from_log.status_many([handles["fail"]], CTX)).values()
            assert (again.phase, again.exit_code, again.usage) == (Phase.ERROR, 3, None)
        for handle in handles.values():
            await adapter.cleanup(handle, CTX)
