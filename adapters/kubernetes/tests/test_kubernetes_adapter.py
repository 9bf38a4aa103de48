"""The adapter against the emulator, beyond the kit: OOM, deadline, image pull
and Unschedulable reasons; one list per poll; watch wake-ups, expiry and
relist; restart survival; quota/LimitRange/node offers; notebooks; results
from a PVC; release() setting the TTL; renew()."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from ivoa_broker_kubernetes import KubernetesAdapter, KubernetesConfig
from ivoa_broker_kubernetes.emulator import KubernetesEmulator
from k8s_support import config_for

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
from ivoa_broker.testing import WakeSignal

TERMINAL = {Phase.COMPLETED, Phase.ERROR, Phase.ABORTED}


def req(*argv: str, **kw: object) -> ExecutionRequest:
    return ExecutionRequest(job_id=f"k8s-{uuid.uuid4().hex[:8]}", owner="alice", command=argv, **kw)  # type: ignore[arg-type]


async def run(adapter: KubernetesAdapter, request: ExecutionRequest, ctx: CallContext) -> Handle:
    [offer] = await adapter.offers(request, ctx)
    return await adapter.submit(request, offer, ctx)


async def until(
    adapter: KubernetesAdapter,
    handle: Handle,
    ctx: CallContext,
    phases: set[Phase],
    limit: float = 30,
) -> Status:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        found = await adapter.status_many([handle], ctx)
        status = found.get(handle.native_id)
        if status is not None and status.phase in phases:
            return status
        assert loop.time() < end, f"still {status}"
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool], limit: float = 10) -> None:
    for _ in range(int(limit / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


async def woken(wake: WakeSignal, native_id: str) -> None:
    """Wait until the watch woke the core for ``native_id``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while native_id not in wake.woken:
        assert loop.time() < end, f"no wake-up for {native_id} from the watch"
        await wake.wait(0.5)


async def test_exit_code_oom_and_deadline_reasons(
    kube: KubernetesAdapter, call: CallContext, emulator: KubernetesEmulator
) -> None:
    failing = await run(kube, req("sh", "-c", "exit 5"), call)
    status = await until(kube, failing, call, TERMINAL)
    assert (status.phase, status.exit_code, status.reason) == (
        Phase.ERROR,
        5,
        EndReason.EXIT_NONZERO,
    )
    deadline = await run(kube, req("sleep", "30", deadline=utcnow() + timedelta(seconds=1)), call)
    status = await until(kube, deadline, call, TERMINAL)
    assert (status.phase, status.reason) == (Phase.ERROR, EndReason.DEADLINE)
    if not emulator.memory_limits_kill:
        pytest.skip("memory limits are rlimits here (no writable cgroup): no OOM kill")
    oom = await run(
        kube,
        req("sh", "-c", "cat /dev/zero | tail -n 1", resources=Resources(memory_bytes=32 * 2**20)),
        call,
    )
    status = await until(kube, oom, call, TERMINAL)
    assert (status.phase, status.reason, status.exit_code) == (
        Phase.ERROR,
        EndReason.OUT_OF_MEMORY,
        137,
    )
    assert "OOMKilled" in (status.message or "")


async def test_image_pull_and_unschedulable_end_after_their_grace(
    kubeconfig: Path, deps: AdapterDeps, call: CallContext, emulator: KubernetesEmulator
) -> None:
    emulator.missing_images.add("registry.invalid/nothing:1")
    config = config_for(kubeconfig, image_pull_grace_seconds=0.5, unschedulable_grace_seconds=0.5)
    async with KubernetesAdapter("k8s-grace", config, deps) as adapter:
        pull = await run(adapter, req("true", image="registry.invalid/nothing:1"), call)
        first = await until(adapter, pull, call, {Phase.QUEUED, Phase.ERROR})
        status = await until(adapter, pull, call, {Phase.ERROR})
        assert status.reason is EndReason.IMAGE_UNAVAILABLE
        assert "ImagePullBackOff" in (status.message or "") or "ErrImagePull" in (
            status.message or ""
        )
        assert first.phase is Phase.QUEUED or first.reason is EndReason.IMAGE_UNAVAILABLE
        emulator.cordon()
        stuck = await run(adapter, req("true"), call)
        queued = await until(adapter, stuck, call, {Phase.QUEUED, Phase.ERROR})
        status = await until(adapter, stuck, call, {Phase.ERROR})
        assert status.reason is EndReason.UNSCHEDULABLE
        assert "node(s) were unschedulable" in (status.message or "")
        assert queued.phase in (Phase.QUEUED, Phase.ERROR)


async def test_status_is_one_list_per_poll(
    kube: KubernetesAdapter, call: CallContext, emulator: KubernetesEmulator, namespace: str
) -> None:
    handles = [await run(kube, req("sleep", "20"), call) for _ in range(5)]
    for h in handles:
        await until(kube, h, call, {Phase.EXECUTING})
    before = len(emulator.calls)
    found = await kube.status_many(handles, call)
    calls = emulator.calls[before:]
    polls = [c for c in calls if "watch=" not in c[1]]
    assert {s.phase for s in found.values()} == {Phase.EXECUTING}
    assert len(polls) == 1, polls
    assert polls[0][1].startswith(f"/api/v1/namespaces/{namespace}/pods?")
    assert "labelSelector=ivoa-broker.org%2Finstance%3Dk8s-test" in polls[0][1]
    for h in handles:
        await kube.cancel(h, call)
        await kube.cleanup(h, call)


async def test_watch_wakes_resumes_and_relists_on_410(
    kubeconfig: Path, tmp_path: Path, call: CallContext, emulator: KubernetesEmulator
) -> None:
    wake = WakeSignal()
    deps = AdapterDeps(data_dir=tmp_path / "w", wake=wake)
    async with KubernetesAdapter(
        "k8s-watch", config_for(kubeconfig, watch_timeout_seconds=1), deps
    ) as adapter:
        watcher = adapter._watcher
        assert watcher is not None
        h = await run(adapter, req("sh", "-c", "sleep 0.3"), call)
        await woken(wake, h.native_id)
        await until(adapter, h, call, TERMINAL)
        # the server ends each watch after 1 s: the watcher resumes from its version
        await eventually(lambda: watcher.bookmarks > 0)
        assert watcher.relists == 0
        emulator.expire_watches()
        await eventually(lambda: watcher.relists > 0)
        assert watcher.relists == 1
        h2 = await run(adapter, req("sh", "-c", "sleep 0.2"), call)
        await woken(wake, h2.native_id)
        assert (await until(adapter, h2, call, TERMINAL)).phase is Phase.COMPLETED
        # and a 410 on the very watch request (not an ERROR event) is a relist too
        emulator.faults.gone_next(prefix="/api/v1/")
        await eventually(lambda: watcher.relists >= 2)
        assert watcher.relists == 2


async def test_restart_fresh_instance_sees_state_from_handles_only(
    config: KubernetesConfig, tmp_path: Path, call: CallContext
) -> None:
    async with KubernetesAdapter("k8s-r", config, AdapterDeps(tmp_path / "a")) as first:
        done = await run(first, req("sh", "-c", "echo before"), call)
        running = await run(first, req("sleep", "20"), call)
        await until(first, done, call, TERMINAL)
        await until(first, running, call, {Phase.EXECUTING})
    again = [Handle.from_json(h.to_json()) for h in (done, running)]
    async with KubernetesAdapter("k8s-r", config, AdapterDeps(tmp_path / "b")) as second:
        found = await second.status_many(again, call)
        assert found[done.native_id].phase is Phase.COMPLETED
        assert found[running.native_id].phase is Phase.EXECUTING
        assert set(await second.list_native(call)) == {done.native_id, running.native_id}
        await second.cancel(again[1], call)
        cancelled = Handle.from_json(again[1].to_json())
        cancelled = Handle(
            cancelled.adapter, cancelled.native_id, cancelled.state, cancel_requested=True
        )
        assert (await until(second, cancelled, call, TERMINAL)).phase is Phase.ABORTED
        for h in again:
            await second.cleanup(h, call)
        assert await second.list_native(call) == {}


async def test_offers_follow_quota_limit_range_and_nodes(
    kube: KubernetesAdapter, call: CallContext, emulator: KubernetesEmulator, namespace: str
) -> None:
    assert kube.capabilities.max_cores == 4 and kube.capabilities.max_gpus == 2
    assert kube.capabilities.queues == (namespace,)
    big = req("true", resources=Resources(cores=3))
    assert await kube.offers(big, call)
    too_big = req("true", resources=Resources(cores=8))
    assert await kube.offers(too_big, call) == []
    assert "no node has 8 cores" in (kube.explain_refusal(too_big) or "")
    gpus = req("true", resources=Resources(gpus=3))
    assert await kube.offers(gpus, call) == []
    emulator.create(
        "LimitRange",
        {
            "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]},
        },
        namespace,
    )
    fat = req("true", resources=Resources(memory_bytes=2 * 2**30))
    assert await kube.offers(fat, call) == []
    assert "LimitRange lr allows at most 1 GiB" in (kube.explain_refusal(fat) or "")
    emulator.create(
        "ResourceQuota",
        {"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "2"}}},
        namespace,
    )
    assert await kube.offers(big, call) == []
    assert "ResourceQuota q allows requests.cpu=2 cores" in (kube.explain_refusal(big) or "")
    [offer] = await kube.offers(req("true", resources=Resources(cores=1)), call)
    assert offer.queue == namespace and not offer.warnings
    h = await run(kube, req("sleep", "20", resources=Resources(cores=1.5)), call)
    await until(kube, h, call, {Phase.EXECUTING})
    [offer] = await kube.offers(req("true", resources=Resources(cores=1)), call)
    assert any("only 0.5 cores of requests.cpu free now" in w for w in offer.warnings)
    await kube.cancel(h, call)
    await kube.cleanup(h, call)


async def test_notebook_pod_and_service_with_endpoint_once_ready(
    kubeconfig: Path,
    deps: AdapterDeps,
    call: CallContext,
    emulator: KubernetesEmulator,
    namespace: str,
) -> None:
    config = config_for(kubeconfig, url_template="https://nb.example.org/{namespace}/{name}/")
    async with KubernetesAdapter("k8s-nb", config, deps) as adapter:
        request = ExecutionRequest(
            job_id=f"nb-{uuid.uuid4().hex[:6]}", kind="interactive", command=("sleep", "30")
        )
        h = await run(adapter, request, call)
        status = await until(adapter, h, call, {Phase.EXECUTING})
        name = h.native_id.split("/")[1]
        assert status.endpoint == f"https://nb.example.org/{namespace}/{name}/"
        [svc] = [s for s in emulator.objects("Service", namespace) if s["metadata"]["name"] == name]
        assert svc["spec"]["selector"]["ivoa-broker.org/instance"] == "k8s-nb"
        assert h.native_id in await adapter.list_native(call)
        await adapter.cancel(h, call)
        await adapter.cleanup(h, call)
        assert not [
            s for s in emulator.objects("Service", namespace) if s["metadata"]["name"] == name
        ]


async def test_results_from_a_pvc_release_sets_ttl_and_renew(
    kubeconfig: Path,
    deps: AdapterDeps,
    call: CallContext,
    emulator: KubernetesEmulator,
    namespace: str,
) -> None:
    claim = emulator.claim_dir(namespace, "results")
    config = config_for(
        kubeconfig,
        results_claim="results",
        results_local_path=claim,
        results_mount_path=str(deps.data_dir.parent / "mnt" / "out"),
        ttl_seconds_after_finished=1,
    )
    async with KubernetesAdapter("k8s-res", config, deps) as adapter:
        script = 'echo to-log; echo data > "$IVOA_BROKER_OUTPUT_DIR/table.csv"'
        h = await run(adapter, req("sh", "-c", script), call)
        assert (await until(adapter, h, call, TERMINAL)).phase is Phase.COMPLETED
        refs = {r.id: r for r in await adapter.results(h, call)}
        assert set(refs) == {"stdout", "table.csv"}
        assert refs["table.csv"].path is not None and refs["table.csv"].path.read_text() == "data\n"
        assert refs["stdout"].path is not None and refs["stdout"].path.read_text() == "to-log\n"
        await adapter.release(h, call)
        name = h.native_id.split("/")[1]
        loop = asyncio.get_running_loop()
        end = loop.time() + 15
        while [j for j in emulator.objects("Job", namespace) if j["metadata"]["name"] == name]:
            assert loop.time() < end, "the TTL controller did not delete the finished Job"
            await asyncio.sleep(0.1)
        # results collected before release stay until cleanup
        assert refs["table.csv"].path.exists()
        await adapter.cleanup(h, call)
        assert not refs["table.csv"].path.exists()
        long = await run(
            adapter, req("sleep", "30", deadline=utcnow() + timedelta(seconds=5)), call
        )
        await until(adapter, long, call, {Phase.EXECUTING})
        new_end = await adapter.renew(long, utcnow() + timedelta(seconds=60), call)
        assert new_end is not None
        [job] = [
            j
            for j in emulator.objects("Job", namespace)
            if j["metadata"]["name"] == long.native_id.split("/")[1]
        ]
        assert job["spec"]["activeDeadlineSeconds"] >= 55
        await adapter.cancel(long, call)
        await adapter.cleanup(long, call)


async def test_429_retry_after_is_retried(
    kube: KubernetesAdapter, call: CallContext, emulator: KubernetesEmulator, namespace: str
) -> None:
    h = await run(kube, req("true"), call)
    emulator.faults.fail_next(
        429,
        count=2,
        method="GET",
        prefix=f"/api/v1/namespaces/{namespace}/pods",
        watch=False,
        retry_after=0,
    )
    status = await until(kube, h, call, TERMINAL)
    assert status.phase is Phase.COMPLETED
    await kube.cleanup(h, call)
