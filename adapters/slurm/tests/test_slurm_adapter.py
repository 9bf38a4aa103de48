"""The Slurm adapter against the real cluster (CLI mode): offers per partition and refusals
naming the limit, the estimated start from ``sbatch --test-only``, Slurm's Reason while a job
waits, HELD, extensions with defaults and allow-lists, images, and a restart that missed the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from ivoa_broker_slurm import SlurmAdapter
from slurm_cluster import LocalCluster, cli_config

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    InvalidRequest,
    Phase,
    Resources,
    utcnow,
)

CTX = CallContext(owner="adapter-tests")
MB = 1024 * 1024


def _request(command: tuple[str, ...] = ("true",), **changes: object) -> ExecutionRequest:
    return ExecutionRequest(job_id=str(uuid.uuid4()), owner="t", command=command, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def slurm_adapter(slurm: LocalCluster, tmp_path: Path) -> AsyncIterator[SlurmAdapter]:
    async with SlurmAdapter("t-cli", cli_config(slurm), AdapterDeps(data_dir=tmp_path)) as a:
        yield a


async def test_open_discovers_partitions_and_limits(slurm_adapter: SlurmAdapter) -> None:
    caps = slurm_adapter.capabilities
    assert set(caps.queues) == {"debug", "short"}
    assert caps.max_cores == 24
    assert caps.max_walltime_seconds == 60 * 60
    assert caps.max_memory_bytes == 4096 * MB
    assert caps.images is False
    assert (await slurm_adapter.health()).ok


async def test_one_offer_per_partition_that_fits(slurm_adapter: SlurmAdapter) -> None:
    short = _request(resources=Resources(walltime_seconds=61))
    offers = await slurm_adapter.offers(short, CTX)
    assert [o.queue for o in offers] == ["debug", "short"]  # Slurm's default partition first
    assert all(o.resources.walltime_seconds == 120 for o in offers)  # 61 s -> 2 minutes
    now = utcnow()
    assert all(o.start is not None and o.start <= now + timedelta(minutes=1) for o in offers)

    long = _request(resources=Resources(walltime_seconds=10 * 60))
    assert [o.queue for o in await slurm_adapter.offers(long, CTX)] == ["debug"]
    big = _request(resources=Resources(memory_bytes=2048 * MB))
    assert [o.queue for o in await slurm_adapter.offers(big, CTX)] == ["debug"]


async def test_refusal_names_the_limit(slurm_adapter: SlurmAdapter) -> None:
    cases = {
        "MaxTime 60 min": _request(resources=Resources(walltime_seconds=2 * 3600)),
        "RealMemory": _request(resources=Resources(memory_bytes=8192 * MB)),
        "32 cores asked": _request(resources=Resources(cores=32)),
        "GRES gpu": _request(resources=Resources(gpus=1)),
        "MaxNodes is 1": _request(resources=Resources(nodes=2)),
        "no container_runner": _request(image="docker.io/library/alpine:3"),
        "unknown extension slurm.colour": _request(extensions={"slurm.colour": "red"}),
        "interactive": _request(kind="interactive"),
    }
    for words, request in cases.items():
        assert await slurm_adapter.offers(request, CTX) == []
        said = slurm_adapter.explain_refusal(request)
        assert said is not None and words in said, (words, said)


async def test_extensions_defaults_and_allow_lists(slurm: LocalCluster, tmp_path: Path) -> None:
    config = cli_config(
        slurm,
        partition={"default": "short", "allowed": ["short"]},
        qos={"default": "normal", "allowed": ["normal"]},
    )
    async with SlurmAdapter("t-ext", config, AdapterDeps(data_dir=tmp_path)) as adapter:
        assert adapter.capabilities.queues == ("short",)
        request = _request(("sh", "-c", "echo ext"))
        [offer] = await adapter.offers(request, CTX)
        assert offer.queue == "short"
        handle = await adapter.submit(request, offer, CTX)
        shown = slurm.command("scontrol", "-o", "show", "job", handle.native_id).stdout
        assert "Partition=short" in shown and "QOS=normal" in shown
        assert f"Comment=ivoa-broker:t-ext:{request.job_id}" in shown
        await adapter.cleanup(handle, CTX)
        refused = _request(extensions={"slurm.partition": "debug"})
        assert await adapter.offers(refused, CTX) == []
        assert "not one of short" in (adapter.explain_refusal(refused) or "")
        with pytest.raises(InvalidRequest):
            await adapter.submit(refused, offer, CTX)


async def test_reason_while_waiting_hold_and_estimated_start(
    slurm_adapter: SlurmAdapter, slurm: LocalCluster
) -> None:
    whole_node = Resources(cores=24, walltime_seconds=30 * 60)
    first = await _submit(slurm_adapter, _request(("sleep", "300"), resources=whole_node))
    second = await _submit(slurm_adapter, _request(("sleep", "300"), resources=whole_node))
    try:
        status = await _wait_for(slurm_adapter, second, lambda s: s.message == "Resources")
        assert status.phase is Phase.QUEUED
        # a third such job could only start when the first one's time is up
        [later] = [
            o
            for o in await slurm_adapter.offers(_request(resources=whole_node), CTX)
            if o.queue == "debug"
        ]
        assert later.start is not None and later.start > utcnow() + timedelta(minutes=10)
        slurm.command("scontrol", "hold", second.native_id)
        held = await _wait_for(slurm_adapter, second, lambda s: s.phase is Phase.HELD)
        assert held.message in ("JobHeldAdmin", "JobHeldUser")
    finally:
        for handle in (first, second):
            await slurm_adapter.cleanup(handle, CTX)


async def test_restart_sees_an_end_that_happened_while_down(
    slurm: LocalCluster, tmp_path: Path
) -> None:
    config = cli_config(slurm)
    deps = AdapterDeps(data_dir=tmp_path)
    async with SlurmAdapter("t-down", config, deps) as before:
        handle = await _submit(before, _request(("sh", "-c", "sleep 2; exit 4")))
    # no adapter runs while the job ends
    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while "FAILED" not in slurm.command("scontrol", "-o", "show", "job", handle.native_id).stdout:
        assert loop.time() < end
        await asyncio.sleep(0.5)
    async with SlurmAdapter("t-down", config, deps) as after:
        status = (await after.status_many([handle], CTX))[handle.native_id]
        assert (status.phase, status.exit_code, status.native_state) == (Phase.ERROR, 4, "FAILED")
        await after.cleanup(handle, CTX)


async def _submit(adapter: SlurmAdapter, request: ExecutionRequest):  # type: ignore[no-untyped-def]
    offers = await adapter.offers(request, CTX)
    assert offers, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], CTX)


async def _wait_for(adapter, handle, check, limit: float = 60.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        status = (await adapter.status_many([handle], CTX))[handle.native_id]
        if check(status):
            return status
        assert loop.time() < end, status
        await asyncio.sleep(0.3)
