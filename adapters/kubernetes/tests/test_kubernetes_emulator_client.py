"""The emulator driven by the official Python ``kubernetes`` client: CRUD, list
and watch with resourceVersion, bookmarks and 410, logs, OOM, deadline,
quota, LimitRange, foreground deletion."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_kubernetes.emulator import KubernetesEmulator

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[Any]:
    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    yield api_client
    api_client.close()


def job(name: str, script: str, **spec: Any) -> Any:
    container = k8s.V1Container(
        name="main",
        image="busybox:1.36",
        command=["sh", "-c", script],
        resources=k8s.V1ResourceRequirements(limits=spec.pop("limits", None)),
    )
    template = k8s.V1PodTemplateSpec(
        spec=k8s.V1PodSpec(restart_policy="Never", containers=[container])
    )
    return k8s.V1Job(
        metadata=k8s.V1ObjectMeta(name=name, labels={"suite": "client"}),
        spec=k8s.V1JobSpec(template=template, backoff_limit=0, **spec),
    )


def wait_job(batch: Any, ns: str, name: str, limit: float = 30) -> Any:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        found = batch.read_namespaced_job(name, ns)
        for c in found.status.conditions or []:
            if c.type in ("Complete", "Failed") and c.status == "True":
                return found
        time.sleep(0.05)
    raise AssertionError(f"job {name} did not finish")


def pod_of(core: Any, ns: str, name: str) -> Any:
    [pod] = core.list_namespaced_pod(ns, label_selector=f"job-name={name}").items
    return pod


def test_version_and_discovery(api: Any) -> None:
    info = k8s.VersionApi(api).get_code()
    assert info.major == "1" and info.minor == "32"
    groups = k8s.ApisApi(api).get_api_versions()
    assert [g.name for g in groups.groups] == ["batch"]
    names = {r.name for r in k8s.BatchV1Api(api).get_api_resources().resources}
    assert "jobs" in names


def test_job_runs_for_real_with_logs_and_exit_code(api: Any, namespace: str) -> None:
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    created = batch.create_namespaced_job(namespace, job("ok", "echo out; echo err >&2; exit 0"))
    assert created.metadata.uid and created.spec.selector.match_labels
    done = wait_job(batch, namespace, "ok")
    assert done.status.succeeded == 1 and done.status.completion_time is not None
    assert {c.type for c in done.status.conditions} >= {"Complete", "SuccessCriteriaMet"}
    pod = pod_of(core, namespace, "ok")
    assert pod.metadata.owner_references[0].kind == "Job"
    assert pod.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log(pod.metadata.name, namespace) == "out\nerr\n"
    assert core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=1) == "err\n"

    batch.create_namespaced_job(namespace, job("bad", "exit 4"))
    failed = wait_job(batch, namespace, "bad")
    assert failed.status.failed == 1
    term = pod_of(core, namespace, "bad").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (4, "Error")

    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job(namespace, job("ok", "true"))
    assert err.value.status == 409
    with pytest.raises(ApiException) as err:
        batch.read_namespaced_job("nope", namespace)
    assert err.value.status == 404


def test_oom_kill_and_deadline(api: Any, namespace: str, emulator: KubernetesEmulator) -> None:
    if not emulator.memory_limits_kill:
        pytest.skip("no writable cgroup v1 memory controller here: memory limits are rlimits")
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    # tail buffers a line that never ends: memory grows until the kernel kills it
    batch.create_namespaced_job(
        namespace, job("oom", "cat /dev/zero | tail -n 1", limits={"memory": "32Mi"})
    )
    batch.create_namespaced_job(namespace, job("slow", "sleep 30", active_deadline_seconds=1))
    wait_job(batch, namespace, "oom")
    term = pod_of(core, namespace, "oom").status.container_statuses[0].state.terminated
    assert (term.reason, term.exit_code) == ("OOMKilled", 137)
    late = wait_job(batch, namespace, "slow")
    [failed] = [c for c in late.status.conditions if c.type == "Failed"]
    assert failed.reason == "DeadlineExceeded"


def test_list_watch_resume_bookmarks_and_410(
    api: Any, namespace: str, emulator: KubernetesEmulator
) -> None:
    batch = k8s.BatchV1Api(api)
    listed = batch.list_namespaced_job(namespace)
    rv = listed.metadata.resource_version
    batch.create_namespaced_job(namespace, job("w1", "true"))
    w = k8s_watch.Watch()
    seen: list[tuple[str, str]] = []
    for event in w.stream(
        batch.list_namespaced_job,
        namespace,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        conds = event["object"].status.conditions or []
        if any(c.type == "Complete" for c in conds):
            w.stop()
    assert seen[0] == ("ADDED", "w1") and ("MODIFIED", "w1") in seen
    # a bookmark comes while nothing changes; its resourceVersion is resumable
    raw = batch.list_namespaced_job(
        namespace,
        watch=True,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
        _preload_content=False,
    )
    text = raw.data.decode()
    assert '"BOOKMARK"' in text
    # compaction: resuming from the old version is 410 Gone (the client raises it)
    emulator.compact()
    with pytest.raises(ApiException) as err:
        for _ in k8s_watch.Watch().stream(
            batch.list_namespaced_job, namespace, resource_version=rv, timeout_seconds=5
        ):
            pass
    assert err.value.status == 410
    # labelSelector and limit/continue
    batch.create_namespaced_job(namespace, job("w2", "true"))
    page = batch.list_namespaced_job(namespace, limit=1, label_selector="suite=client")
    assert len(page.items) == 1 and page.metadata._continue
    rest = batch.list_namespaced_job(namespace, limit=1, _continue=page.metadata._continue)
    assert {page.items[0].metadata.name, rest.items[0].metadata.name} == {"w1", "w2"}


def test_quota_limit_range_and_unschedulable(
    api: Any, namespace: str, emulator: KubernetesEmulator
) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespaced_limit_range(
        namespace,
        k8s.V1LimitRange(
            metadata=k8s.V1ObjectMeta(name="limits"),
            spec=k8s.V1LimitRangeSpec(
                limits=[
                    k8s.V1LimitRangeItem(
                        type="Container",
                        max={"cpu": "2"},
                        default={"cpu": "500m", "memory": "128Mi"},
                    )
                ]
            ),
        ),
    )
    core.create_namespaced_resource_quota(
        namespace,
        k8s.V1ResourceQuota(
            metadata=k8s.V1ObjectMeta(name="q"),
            spec=k8s.V1ResourceQuotaSpec(hard={"limits.cpu": "1"}),
        ),
    )

    def pod(name: str, cpu: str | None = None) -> Any:
        res = k8s.V1ResourceRequirements(limits={"cpu": cpu}) if cpu else None
        c = k8s.V1Container(name="c", image="busybox:1.36", command=["sleep", "30"], resources=res)
        return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1PodSpec(containers=[c]))

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, pod("huge", "3"))
    assert err.value.status == 403 and "maximum cpu usage per Container is 2" in err.value.body
    made = core.create_namespaced_pod(namespace, pod("defaulted"))
    assert made.spec.containers[0].resources.limits == {"cpu": "500m", "memory": "128Mi"}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, pod("over", "600m"))
    assert err.value.status == 403 and "exceeded quota: q" in err.value.body
    quota = core.read_namespaced_resource_quota("q", namespace)
    assert quota.status.used["limits.cpu"] == "500m"
    # foreground deletion of the pod; then an unschedulable one
    core.delete_namespaced_pod("defaulted", namespace, grace_period_seconds=0)
    emulator.cordon()
    core.create_namespaced_pod(namespace, pod("stuck", "100m"))
    end = time.monotonic() + 10
    message = ""
    while time.monotonic() < end and not message:
        conds = core.read_namespaced_pod("stuck", namespace).status.conditions or []
        message = next((c.message for c in conds if c.reason == "Unschedulable"), "")
        time.sleep(0.05)
    assert "node(s) were unschedulable" in message


def test_foreground_deletion_keeps_the_owner_until_its_pods_are_gone(
    api: Any, namespace: str
) -> None:
    batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    batch.create_namespaced_job(
        namespace, job("fg", "trap 'sleep 0.3; exit 0' TERM; sleep 30 & wait")
    )
    for _ in range(200):
        [pod] = core.list_namespaced_pod(namespace, label_selector="job-name=fg").items
        if pod.status.phase == "Running":
            break
        time.sleep(0.05)
    batch.delete_namespaced_job("fg", namespace, propagation_policy="Foreground")
    owner = batch.read_namespaced_job("fg", namespace)
    assert owner.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in owner.metadata.finalizers
    for _ in range(200):
        if not [j for j in batch.list_namespaced_job(namespace).items if j.metadata.name == "fg"]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the job was never deleted")
    with pytest.raises(ApiException) as err:
        batch.read_namespaced_job("fg", namespace)
    assert err.value.status == 404
    assert core.list_namespaced_pod(namespace, label_selector="job-name=fg").items == []
