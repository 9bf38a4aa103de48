"""Offers: who the local platform serves, and why it refuses the others."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    InvalidRequest,
    NoCapacity,
    Offer,
    Resources,
)

from .conftest import UNSANDBOXED, submit

GiB = 1024**3


def _req(**kwargs: object) -> ExecutionRequest:
    fields: dict[str, object] = {"job_id": "offer-1", "command": ("true",)}
    fields.update(kwargs)
    return ExecutionRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def small(work_dir: Path) -> LocalAdapter:
    config = LocalConfig(
        max_cores=2, max_memory_bytes=4 * GiB, max_jobs=1, sandbox=UNSANDBOXED, containers="off"
    )
    return LocalAdapter("small", config, AdapterDeps(data_dir=work_dir))


REFUSED = [
    pytest.param(_req(image="docker.io/library/python:3"), "container images", id="image"),
    pytest.param(_req(notebook="https://example.org/nb.ipynb"), "notebooks", id="notebook"),
    pytest.param(_req(resources=Resources(gpus=1)), "no GPUs", id="gpus"),
    pytest.param(_req(kind="interactive"), "batch jobs only", id="interactive"),
    pytest.param(_req(command=()), "needs a command", id="no-command"),
    pytest.param(_req(resources=Resources(cores=3)), "at most 2 per job", id="cores"),
    pytest.param(_req(resources=Resources(memory_bytes=5 * GiB)), "at most 4.0 GiB", id="memory"),
    pytest.param(_req(resources=Resources(walltime_seconds=0)), "walltime", id="walltime"),
    pytest.param(_req(command=("surely-no-such-program-xyz",)), "not found on PATH", id="missing"),
    pytest.param(_req(command=("bin/true",)), "relative path", id="relative"),
    pytest.param(_req(resources=Resources(disk_bytes=2**62)), "free in the local work", id="disk"),
]


@pytest.mark.parametrize(("request_", "reason"), REFUSED)
async def test_refused_requests_get_no_offer_and_a_reason(
    small: LocalAdapter, ctx: CallContext, request_: ExecutionRequest, reason: str
) -> None:
    assert await small.offers(request_, ctx) == []
    explanation = small.explain_refusal(request_)
    assert explanation is not None
    assert reason in explanation


async def test_a_file_without_execute_permission_is_refused(
    small: LocalAdapter, ctx: CallContext, tmp_path: Path
) -> None:
    data = tmp_path / "data.txt"
    data.write_text("not a program")
    data.chmod(0o644)
    request = _req(command=(str(data),))
    assert await small.offers(request, ctx) == []
    assert small.explain_refusal(request) == f"the command {str(data)!r} is not executable"


@pytest.mark.parametrize(("request_", "reason"), REFUSED)
async def test_submit_refuses_the_same_requests_before_any_side_effect(
    small: LocalAdapter, ctx: CallContext, request_: ExecutionRequest, reason: str
) -> None:
    offer = (await small.offers(_req(), ctx))[0]
    with pytest.raises(InvalidRequest, match=reason):
        await small.submit(request_, offer, ctx)
    assert not small.work_dir.exists() or list(small.work_dir.iterdir()) == []


async def test_offer_grants_resources_and_round_trips(
    small: LocalAdapter, ctx: CallContext
) -> None:
    request = _req(resources=Resources(cores=2, memory_bytes=GiB, walltime_seconds=30))
    [offer] = await small.offers(request, ctx)
    assert offer.adapter == "small"
    assert offer.reserved is False
    assert offer.start is not None
    assert offer.expires_at is not None
    assert offer.start < offer.expires_at
    assert offer.resources == Resources(cores=2, memory_bytes=GiB, walltime_seconds=30)
    assert offer.terms == {"memory_bytes": GiB, "cpu_seconds": 60}
    assert Offer.from_json(json.loads(json.dumps(offer.to_json()))) == offer


async def test_defaults_one_core_and_the_configured_default_memory(
    work_dir: Path, ctx: CallContext
) -> None:
    config = LocalConfig(default_memory_bytes=GiB, sandbox=UNSANDBOXED)
    adapter = LocalAdapter("d", config, AdapterDeps(data_dir=work_dir))
    [offer] = await adapter.offers(_req(), ctx)
    assert offer.resources.cores == 1
    assert offer.resources.memory_bytes == GiB
    assert offer.terms["cpu_seconds"] is None


async def test_offers_have_no_side_effects(small: LocalAdapter, ctx: CallContext) -> None:
    await small.offers(_req(), ctx)
    await small.offers(_req(image="x"), ctx)
    assert not small.work_dir.exists()


async def test_submit_beyond_max_jobs_is_no_capacity(small: LocalAdapter, ctx: CallContext) -> None:
    async with small:
        first = await submit(small, _req(job_id="cap-1", command=("sleep", "100")), ctx)
        [offer] = await small.offers(_req(job_id="cap-2"), ctx)
        assert offer.warnings
        with pytest.raises(NoCapacity):
            await small.submit(_req(job_id="cap-2"), offer, ctx)
        assert sorted(os.listdir(small.work_dir)) == ["cap-1"]
        await small.cleanup(first, ctx)


async def test_offer_from_another_instance_is_refused(
    small: LocalAdapter, ctx: CallContext
) -> None:
    [offer] = await small.offers(_req(), ctx)
    other = Offer.from_json({**offer.to_json(), "adapter": "elsewhere"})
    with pytest.raises(InvalidRequest, match="elsewhere"):
        await small.submit(_req(), other, ctx)


async def test_health_reports_a_writable_work_dir(small: LocalAdapter, tmp_path: Path) -> None:
    health = await small.health()
    assert health.ok, health.message
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    broken = LocalAdapter("b", LocalConfig(work_dir=blocker / "w", sandbox=UNSANDBOXED), small.deps)
    health = await broken.health()
    assert not health.ok
    assert "not writable" in health.message
