"""The emulated control plane behind the API: object life cycles and controllers.

* **Job controller** (batch/v1): creates one pod per attempt from the template
  (``generateName: <job>-``, controller labels, ownerReference), counts
  ``active``/``ready``/``succeeded``/``failed``/``terminating``, retries up to
  ``backoffLimit``, enforces ``activeDeadlineSeconds`` (pods killed and deleted,
  condition ``Failed``/``DeadlineExceeded``), sets ``SuccessCriteriaMet``+``Complete``
  or ``FailureTarget``+``Failed``; the **TTL controller** deletes finished jobs
  ``ttlSecondsAfterFinished`` after they end.
* **Scheduler**: binds a pod to the first node whose allocatable still fits the
  pod's requests (cpu, memory, ``nvidia.com/gpu``, pods), else leaves it Pending
  with ``PodScheduled=False``/``Unschedulable`` and the real message text.
* **Kubelet**: pulls (images in ``missing_images`` fail with ``ErrImagePull`` then
  ``ImagePullBackOff``), runs the container as a local process
  (:mod:`._runtime`), reports ``running``/``terminated`` states, ``Ready``.
* **Garbage collector**: deletion with ``propagationPolicy`` Foreground (owner
  kept with ``foregroundDeletion`` finalizer until its pods are gone),
  Background, Orphan (the default of batch/v1 Jobs, as on a real server).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..quantity import parse_quantity
from ._admission import (
    GPU,
    TERMINAL,
    apply_limit_ranges,
    check_quota,
    default_pod_spec,
    pod_amounts,
    quota_used,
    validate_meta,
    validate_pod_spec,
)
from ._errors import ApiError, already_exists, invalid, not_found
from ._runtime import Container, Ended, Mount, cgroups_usable
from ._store import BY_KIND, Obj, Resource, Store, now_iso, parse_iso

POD, JOB, SERVICE = BY_KIND["Pod"], BY_KIND["Job"], BY_KIND["Service"]
NAMESPACE, NODE, EVENT = BY_KIND["Namespace"], BY_KIND["Node"], BY_KIND["Event"]
QUOTA = BY_KIND["ResourceQuota"]


def _quantity_text(key: str, value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


@dataclass(frozen=True)
class NodeSpec:
    name: str = "emulated-node-1"
    cpu: str = "4"
    memory: str = "8Gi"
    pods: str = "110"
    gpus: int = 0


@dataclass
class ClusterSettings:
    nodes: tuple[NodeSpec, ...] = (NodeSpec(),)
    #: images that cannot be pulled (ErrImagePull -> ImagePullBackOff)
    missing_images: set[str] = field(default_factory=set)
    #: how long ContainerCreating / an image pull takes (seconds)
    pull_delay: float = 0.05
    #: argv of a container whose pod gives neither command nor args (the image's CMD)
    default_cmd: tuple[str, ...] = ("sleep", "infinity")
    #: the largest termination grace period honoured (keeps tests short)
    max_grace_seconds: float = 30.0
    #: watch bookmark period (a real server sends one about every minute)
    bookmark_seconds: float = 1.0
    #: events kept for watches to resume from
    history: int = 2000
    #: base of the emulated state (pod scratch dirs, logs, volumes); None: a temp dir
    state_dir: Path | None = None


def _suffix(n: int = 5) -> str:
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=n))


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def _condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def _set_condition(obj: Obj, ctype: str, status: str, reason: str = "", message: str = "") -> None:
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    for c in conds:
        if c["type"] == ctype:
            if c["status"] != status:
                c["lastTransitionTime"] = now_iso()
            c.update(status=status, reason=reason, message=message, lastProbeTime=None)
            return
    conds.append(
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now_iso(),
        }
    )


class Cluster:
    """State and controllers; every method runs on the emulator's event loop."""

    def __init__(self, settings: ClusterSettings, state_dir: Path) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.store = Store(history=settings.history)
        self.use_cgroups = cgroups_usable()
        self.containers: dict[str, Container] = {}  # pod uid -> running container
        self.tasks: set[asyncio.Task[None]] = set()
        self._ip = 10
        self._svc_ip = 10
        self.bootstrap()

    # ----------------------------------------------------------------- setup

    def bootstrap(self) -> None:
        for ns in ("default", "kube-system", "kube-public"):
            self.create(NAMESPACE, {"metadata": {"name": ns}}, "")
        for node in self.settings.nodes:
            alloc = {"cpu": node.cpu, "memory": node.memory, "pods": node.pods}
            if node.gpus:
                alloc[GPU] = str(node.gpus)
            self.store.create(
                NODE,
                {
                    "metadata": {
                        "name": node.name,
                        "labels": {
                            "kubernetes.io/hostname": node.name,
                            "kubernetes.io/os": "linux",
                        },
                    },
                    "spec": {},
                    "status": {
                        "capacity": dict(alloc),
                        "allocatable": dict(alloc),
                        "conditions": [
                            {"type": "Ready", "status": "True", "reason": "KubeletReady"}
                        ],
                        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                        "nodeInfo": {
                            "kubeletVersion": "v1.32.0-ivoa-emulator",
                            "operatingSystem": "linux",
                        },
                    },
                },
            )

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---------------------------------------------------------------- create

    def create(self, res: Resource, obj: Obj, ns: str, *, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",  # noqa: E501
                )
            meta["namespace"] = ns
            if self.store.get(NAMESPACE, "", ns) is None:
                raise not_found(NAMESPACE, ns)
            if (
                (self.store.get(NAMESPACE, "", ns) or {})
                .get("metadata", {})
                .get("deletionTimestamp")
            ):
                raise ApiError(
                    403,
                    f'{res.plural} "{meta.get("name", "")}" is forbidden: unable to create new content in namespace {ns} because it is being terminated',  # noqa: E501
                )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _suffix()
        for key in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            meta.pop(key, None)
        validate_meta(res, obj)
        if self.store.get(res, ns, meta["name"]) is not None:
            raise already_exists(res, meta["name"])
        self._default_and_validate(res, obj)
        check_quota(self.store, res, obj)
        if dry_run:
            return obj
        created = self.store.create(res, obj)
        if res is JOB:
            self.sync_job(ns, meta["name"])
        elif res is QUOTA:
            self.refresh_quotas()
        elif res is POD:
            self.refresh_quotas()
            self.spawn(self._kubelet(ns, meta["name"]))
        return created

    def _default_and_validate(self, res: Resource, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if res is NAMESPACE:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        elif res is POD:
            spec = obj.setdefault("spec", {})
            default_pod_spec(spec)
            validate_pod_spec(res, name, spec, "spec")
            apply_limit_ranges(self.store, obj)
            obj["status"] = {"phase": "Pending", "qosClass": self._qos(spec)}
        elif res is JOB:
            spec = obj.setdefault("spec", {})
            template = spec.setdefault("template", {})
            tspec = template.setdefault("spec", {})
            if tspec.get("restartPolicy") not in ("Never", "OnFailure"):
                raise invalid(
                    res,
                    name,
                    [
                        (
                            "spec.template.spec.restartPolicy",
                            f'Unsupported value: "{tspec.get("restartPolicy", "Always")}": supported values: "OnFailure", "Never"',  # noqa: E501
                        )
                    ],
                )
            default_pod_spec(tspec)
            validate_pod_spec(res, name, tspec, "spec.template.spec")
            uid = obj["metadata"].setdefault("uid", str(uuid.uuid4()))
            labels = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
            template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
            spec.setdefault(
                "selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            )
            for key, value in (
                ("parallelism", 1),
                ("completions", 1),
                ("backoffLimit", 6),
                ("completionMode", "NonIndexed"),
                ("suspend", False),
                ("manualSelector", False),
                ("podReplacementPolicy", "TerminatingOrFailed"),
            ):
                spec.setdefault(key, value)
            obj["metadata"].setdefault("labels", {}).update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid,
                    "job-name": name,
                }
            )
            obj["status"] = {}
        elif res is SERVICE:
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            self._svc_ip += 1
            spec.setdefault("clusterIP", f"10.96.{self._svc_ip // 250}.{self._svc_ip % 250}")
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            obj["status"] = {"loadBalancer": {}}

    @staticmethod
    def _qos(spec: dict[str, Any]) -> str:
        rs = [c.get("resources") or {} for c in spec.get("containers") or []]
        if not any(r.get("requests") or r.get("limits") for r in rs):
            return "BestEffort"
        if all(
            r.get("limits", {}).get("cpu")
            and r.get("limits", {}).get("memory")
            and r.get("requests") == r.get("limits")
            for r in rs
        ):
            return "Guaranteed"
        return "Burstable"

    # --------------------------------------------------------------- events

    def event(self, obj: Obj, etype: str, reason: str, message: str, source: str) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        self.store.create(
            EVENT,
            {
                "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns},
                "involvedObject": {
                    "kind": obj["kind"],
                    "namespace": ns,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": obj["apiVersion"],
                },
                "reason": reason,
                "message": message,
                "type": etype,
                "source": {"component": source},
                "firstTimestamp": now_iso(),
                "lastTimestamp": now_iso(),
                "count": 1,
            },
        )

    # --------------------------------------------------------------- delete

    def delete(
        self, res: Resource, ns: str, name: str, propagation: str | None, grace: float | None
    ) -> tuple[Obj, bool]:
        """Delete an object; returns (object, gone_now)."""
        obj = self.store.get(res, ns, name)
        if obj is None:
            raise not_found(res, name)
        meta = obj["metadata"]
        if res is JOB and propagation is None:
            propagation = "Orphan"  # batch/v1 Job's DefaultGarbageCollectionPolicy
        propagation = propagation or "Background"
        if res is POD:
            return self._delete_pod(obj, grace), False
        if res is NAMESPACE:
            for r in (JOB, POD, SERVICE, BY_KIND["ResourceQuota"], BY_KIND["LimitRange"]):
                for child in list(self.store.items(r, name)):
                    with contextlib.suppress(ApiError):
                        self.delete(r, name, child["metadata"]["name"], "Background", 0)
            return self.store.delete(res, obj), True
        if propagation == "Foreground":
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_iso()
                meta["deletionGracePeriodSeconds"] = 0
                meta.setdefault("finalizers", []).append("foregroundDeletion")
                self.store.update(res, obj)
            for pod in self._dependents(obj):
                self._delete_pod(pod, grace)
            self._finish_foreground(obj)
            return copy.deepcopy(obj), self.store.get(res, ns, name) is None
        dependents = self._dependents(obj)
        gone = self.store.delete(res, obj)
        for pod in dependents:
            if propagation == "Orphan":
                pod["metadata"]["ownerReferences"] = [
                    r
                    for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("uid") != meta["uid"]
                ]
                self.store.update(POD, pod)
            else:
                self._delete_pod(pod, grace)
        return gone, True

    def purge(self, res: Resource, ns: str, name: str) -> None:
        """Remove an object at once, behind every controller's back (tests)."""
        obj = self.store.get(res, ns, name)
        if obj is None:
            return
        if res is POD:
            container = self.containers.get(obj["metadata"]["uid"])
            if container is not None:
                container.signal(9)
        self.store.delete(res, obj)

    def _dependents(self, owner: Obj) -> list[Obj]:
        ns = owner["metadata"].get("namespace", "")
        return [p for p in self.store.items(POD, ns) if _owned_by(p, owner["metadata"]["uid"])]

    def _finish_foreground(self, owner: Obj) -> None:
        meta = owner["metadata"]
        if "foregroundDeletion" in (meta.get("finalizers") or []) and not self._dependents(owner):
            meta["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
            res = BY_KIND[owner["kind"]]
            if self.store.get(res, meta.get("namespace", ""), meta["name"]) is owner:
                self.store.delete(res, owner)

    def _delete_pod(self, pod: Obj, grace: float | None) -> Obj:
        meta = pod["metadata"]
        if grace is None:
            grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        grace = min(grace, self.settings.max_grace_seconds)
        container = self.containers.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            if container is not None and grace == 0:
                container.signal(9)
            return copy.deepcopy(pod)
        meta["deletionTimestamp"] = (datetime.now(UTC) + timedelta(seconds=grace)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        meta["deletionGracePeriodSeconds"] = int(grace)
        snapshot = self.store.update(POD, pod)
        if container is not None:
            self.event(
                pod,
                "Normal",
                "Killing",
                f"Stopping container {pod['spec']['containers'][0]['name']}",
                "kubelet",
            )
            self.spawn(container.terminate(grace))
        else:
            self._remove_pod(pod)
        return snapshot

    def _remove_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if self.store.get(POD, meta["namespace"], meta["name"]) is not pod:
            return
        self.store.delete(POD, pod)
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "Job":
                self.sync_job(meta["namespace"], ref["name"])
                job = self.store.get(JOB, meta["namespace"], ref["name"])
                if job is not None:
                    self._finish_foreground(job)

    # ------------------------------------------------------------ scheduler

    def _node_free(self, node: Obj) -> dict[str, float]:
        free = {k: parse_quantity(v) for k, v in node["status"]["allocatable"].items()}
        for pod in self.store.items(POD):
            if (
                pod["spec"].get("nodeName") != node["metadata"]["name"]
                or pod["status"].get("phase") in TERMINAL
            ):
                continue
            amounts = pod_amounts(pod)
            for key in list(free):
                free[key] -= amounts.get(f"requests.{key}", 0.0) if key != "pods" else 1
        return free

    def _schedule(self, pod: Obj) -> bool:
        asked = pod_amounts(pod)
        reasons: dict[str, int] = {}
        nodes = list(self.store.items(NODE))
        for node in nodes:
            if node["spec"].get("unschedulable"):
                reasons["node(s) were unschedulable"] = (
                    reasons.get("node(s) were unschedulable", 0) + 1
                )
                continue
            free = self._node_free(node)
            short = [
                k
                for k in ("cpu", "memory", GPU)
                if asked.get(f"requests.{k}", 0.0) > free.get(k, 0.0) + 1e-9
            ]
            if free.get("pods", 0) < 1:
                short.append("pods")
            if not short:
                pod["spec"]["nodeName"] = node["metadata"]["name"]
                _set_condition(pod, "PodScheduled", "True")
                self.event(
                    pod,
                    "Normal",
                    "Scheduled",
                    f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node['metadata']['name']}",  # noqa: E501
                    "default-scheduler",
                )
                return True
            for k in short:
                reasons[f"Insufficient {k}"] = reasons.get(f"Insufficient {k}", 0) + 1
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        message = f"0/{len(nodes)} nodes are available: {detail}. preemption: 0/{len(nodes)} nodes are available: {len(nodes)} No preemption victims found for incoming pod."  # noqa: E501
        before = _condition(pod, "PodScheduled")
        _set_condition(pod, "PodScheduled", "False", "Unschedulable", message)
        if before is None or before.get("message") != message:
            self.event(pod, "Warning", "FailedScheduling", message, "default-scheduler")
            self.store.update(POD, pod)
        return False

    # -------------------------------------------------------------- kubelet

    def _alive(self, pod: Obj) -> bool:
        meta = pod["metadata"]
        return self.store.get(POD, meta["namespace"], meta["name"]) is pod and not meta.get(
            "deletionTimestamp"
        )

    async def _kubelet(self, ns: str, name: str) -> None:
        pod = self.store.get(POD, ns, name)
        assert pod is not None
        while not self._schedule(pod):
            await self.store.wait(self.store.rv, 0.5)
            if not self._alive(pod):
                self._remove_pod(pod)
                return
        spec = pod["spec"]
        c = spec["containers"][0]
        cname = c["name"]
        pod["status"].update(hostIP="127.0.0.1", podIP=self._next_ip(), startTime=now_iso())
        pod["status"]["podIPs"] = [{"ip": pod["status"]["podIP"]}]
        _set_condition(pod, "Initialized", "True")
        _set_condition(
            pod,
            "Ready",
            "False",
            "ContainersNotReady",
            f"containers with unready status: [{cname}]",
        )
        _set_condition(
            pod,
            "ContainersReady",
            "False",
            "ContainersNotReady",
            f"containers with unready status: [{cname}]",
        )
        self._container_state(pod, {"waiting": {"reason": "ContainerCreating"}})
        self.store.update(POD, pod)
        await asyncio.sleep(self.settings.pull_delay)
        image = c["image"]
        if image in self.settings.missing_images:
            self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet")
            failure = f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'  # noqa: E501
            reason = "ErrImagePull"
            while self._alive(pod):
                self._container_state(
                    pod,
                    {
                        "waiting": {
                            "reason": reason,
                            "message": failure
                            if reason == "ErrImagePull"
                            else f'Back-off pulling image "{image}"',
                        }
                    },
                )
                self.event(
                    pod,
                    "Warning",
                    "Failed" if reason == "ErrImagePull" else "BackOff",
                    failure,
                    "kubelet",
                )
                self.store.update(POD, pod)
                reason = "ImagePullBackOff" if reason == "ErrImagePull" else "ErrImagePull"
                await asyncio.sleep(max(self.settings.pull_delay * 4, 0.2))
            self._remove_pod(pod)
            return
        if not self._alive(pod):
            self._remove_pod(pod)
            return
        container = self._container(pod, c)
        try:
            await container.start()
        except OSError as exc:
            self._container_state(
                pod, {"waiting": {"reason": "RunContainerError", "message": f"exec: {exc}"}}
            )
            self._terminal(pod, Ended(128, "StartError"), started=now_iso())
            self._remove_if_deleting(pod)
            return
        self.containers[pod["metadata"]["uid"]] = container
        started = now_iso()
        self.event(pod, "Normal", "Started", f"Started container {cname}", "kubelet")
        self._container_state(pod, {"running": {"startedAt": started}}, ready=True)
        pod["status"]["phase"] = "Running"
        for ctype in ("Ready", "ContainersReady"):
            _set_condition(pod, ctype, "True")
        self.store.update(POD, pod)
        job = self._owner_job(pod)
        if job is not None:
            self.sync_job(ns, job)
        ended = await container.wait()
        self.containers.pop(pod["metadata"]["uid"], None)
        self._terminal(pod, ended, started)
        self._remove_if_deleting(pod)

    def _remove_if_deleting(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._remove_pod(pod)

    def _owner_job(self, pod: Obj) -> str | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Job":
                return str(ref["name"])
        return None

    def _terminal(self, pod: Obj, ended: Ended, started: str) -> None:
        if self.store.get(POD, pod["metadata"]["namespace"], pod["metadata"]["name"]) is not pod:
            return
        term: dict[str, Any] = {
            "exitCode": ended.exit_code,
            "reason": ended.reason,
            "startedAt": started,
            "finishedAt": now_iso(),
            "containerID": f"emulated://{pod['metadata']['uid']}",
        }
        if ended.signal is not None:
            term["signal"] = ended.signal
        self._container_state(pod, {"terminated": term})
        pod["status"]["phase"] = "Succeeded" if ended.exit_code == 0 else "Failed"
        for ctype in ("Ready", "ContainersReady"):
            _set_condition(pod, ctype, "False", "PodCompleted")
        if ended.reason == "OOMKilled":
            self.event(
                pod,
                "Warning",
                "OOMKilling",
                "Memory cgroup out of memory: Killed process",
                "kernel-monitor",
            )
        self.store.update(POD, pod)
        job = self._owner_job(pod)
        if job is not None:
            self.sync_job(pod["metadata"]["namespace"], job)

    def _container_state(self, pod: Obj, state: dict[str, Any], ready: bool = False) -> None:
        c = pod["spec"]["containers"][0]
        pod["status"]["containerStatuses"] = [
            {
                "name": c["name"],
                "state": state,
                "lastState": {},
                "ready": ready,
                "restartCount": 0,
                "image": c["image"],
                "imageID": ""
                if "waiting" in state
                else f"docker.io/{c['image']}@sha256:{uuid.uuid5(uuid.NAMESPACE_URL, c['image']).hex}",  # noqa: E501
                "started": "running" in state,
            }
        ]

    def _next_ip(self) -> str:
        self._ip += 1
        return f"10.244.{self._ip // 250}.{self._ip % 250}"

    def pod_dir(self, pod: Obj) -> Path:
        return self.state_dir / "pods" / str(pod["metadata"]["uid"])

    def log_path(self, pod: Obj) -> Path:
        return self.pod_dir(pod) / "container.log"

    def claim_dir(self, ns: str, claim: str) -> Path:
        """Where an emulated PersistentVolumeClaim's data lives."""
        return self.state_dir / "volumes" / ns / claim

    def _container(self, pod: Obj, c: dict[str, Any]) -> Container:
        meta, spec = pod["metadata"], pod["spec"]
        base = self.pod_dir(pod)
        base.mkdir(parents=True, exist_ok=True)
        argv = list(c.get("command") or []) + list(c.get("args") or [])
        if not c.get("command") and not c.get("args"):
            argv = list(self.settings.default_cmd)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOSTNAME": meta["name"],
            "HOME": str(base / "home"),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
        }
        for item in c.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
        (base / "home").mkdir(exist_ok=True)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = []
        for m in c.get("volumeMounts") or []:
            vol = volumes[m["name"]]
            if "persistentVolumeClaim" in vol:
                source = self.claim_dir(
                    meta["namespace"], vol["persistentVolumeClaim"]["claimName"]
                )
            elif "hostPath" in vol:
                source = Path(vol["hostPath"]["path"])
            else:  # emptyDir and anything else: a directory of the pod
                source = base / "volumes" / m["name"]
            if m.get("subPath"):
                source = source / m["subPath"]
            mounts.append(Mount(source, m["mountPath"], bool(m.get("readOnly"))))
        limit = (c.get("resources") or {}).get("limits", {}).get("memory")
        workdir = Path(c["workingDir"]) if c.get("workingDir") else base / "root"
        return Container(
            argv,
            env,
            workdir,
            self.log_path(pod),
            int(parse_quantity(limit)) if limit else None,
            mounts,
            self.use_cgroups,
        )

    # ------------------------------------------------------- job controller

    def sync_job(self, ns: str, name: str) -> None:
        job = self.store.get(JOB, ns, name)
        if job is None:
            return
        spec, status = job["spec"], job.setdefault("status", {})
        if _condition(job, "Complete") or _condition(job, "Failed"):
            return
        pods = self._dependents(job)
        live = [
            p
            for p in pods
            if p["status"].get("phase") not in TERMINAL
            and not p["metadata"].get("deletionTimestamp")
        ]
        terminating = [
            p
            for p in pods
            if p["metadata"].get("deletionTimestamp") and p["status"].get("phase") not in TERMINAL
        ]
        succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p["status"].get("phase") == "Failed")
        failed = max(failed, status.get("failed", 0))
        before = copy.deepcopy(status)
        live_needed = not (job["metadata"].get("deletionTimestamp") or spec.get("suspend"))
        status.setdefault("startTime", now_iso())
        if succeeded >= spec.get("completions", 1):
            status["succeeded"] = succeeded
            status["completionTime"] = now_iso()
            _set_condition(
                job,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            _set_condition(
                job,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            self.event(job, "Normal", "Completed", "Job completed", "job-controller")
            live_needed = False
        elif failed > spec.get("backoffLimit", 6):
            status["failed"] = failed
            self._fail_job(
                job, "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
            live_needed = False
        elif self._deadline_passed(job):
            self._fail_job(job, "DeadlineExceeded", "Job was active longer than specified deadline")
            for pod in live:
                self._delete_pod(pod, None)
            live_needed = False
        if live_needed and not live and not terminating and succeeded == 0:
            self._create_job_pod(job)
            live = [p for p in self._dependents(job) if p["status"].get("phase") not in TERMINAL]
        status["active"] = len([p for p in live if not p["metadata"].get("deletionTimestamp")])
        status["ready"] = sum(
            1 for p in live if (_condition(p, "Ready") or {}).get("status") == "True"
        )
        status["terminating"] = len(terminating)
        if failed:
            status["failed"] = failed
        if succeeded:
            status["succeeded"] = succeeded
        status["uncountedTerminatedPods"] = {}
        if _condition(job, "Complete") or _condition(job, "Failed"):
            status["active"] = 0
            status["ready"] = 0
        if status != before:
            self.store.update(JOB, job)

    def _deadline_passed(self, job: Obj) -> bool:
        deadline = job["spec"].get("activeDeadlineSeconds")
        start = parse_iso(job.get("status", {}).get("startTime"))
        return bool(
            deadline is not None
            and start is not None
            and (datetime.now(UTC) - start).total_seconds() >= deadline
        )

    def _fail_job(self, job: Obj, reason: str, message: str) -> None:
        _set_condition(job, "FailureTarget", "True", reason, message)
        _set_condition(job, "Failed", "True", reason, message)
        job["status"]["active"] = 0
        self.event(job, "Warning", reason, message, "job-controller")

    def _create_job_pod(self, job: Obj) -> None:
        meta = job["metadata"]
        template = copy.deepcopy(job["spec"]["template"])
        pod = {
            "metadata": {
                "generateName": f"{meta['name']}-",
                "labels": template.get("metadata", {}).get("labels", {}),
                "annotations": template.get("metadata", {}).get("annotations", {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        try:
            created = self.create(POD, pod, meta["namespace"])
        except ApiError as exc:
            if (_condition(job, "FailedCreate") or {}).get("message") != exc.message:
                self.event(
                    job,
                    "Warning",
                    "FailedCreate",
                    f"Error creating: {exc.message}",
                    "job-controller",
                )
            return
        self.event(
            job,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            "job-controller",
        )

    # ------------------------------------------------------------ periodic

    async def run(self) -> None:
        """Timers: job deadlines, jobs waiting for quota, TTL after finished."""
        while True:
            await self.store.wait(self.store.rv, 0.2)
            await asyncio.sleep(0.05)
            self.refresh_quotas()
            for job in list(self.store.items(JOB)):
                meta = job["metadata"]
                finished = _condition(job, "Complete") or _condition(job, "Failed")
                if not finished:
                    self.sync_job(meta["namespace"], meta["name"])
                    continue
                ttl = job["spec"].get("ttlSecondsAfterFinished")
                end = parse_iso(
                    job["status"].get("completionTime") or finished.get("lastTransitionTime")
                )
                if ttl is None or end is None or meta.get("deletionTimestamp"):
                    continue
                if (datetime.now(UTC) - end).total_seconds() >= ttl:
                    self.delete(JOB, meta["namespace"], meta["name"], "Background", None)

    def refresh_quotas(self) -> None:
        """The quota controller: ``status.hard`` and ``status.used`` of every quota."""
        for quota in list(self.store.items(QUOTA)):
            hard = dict(quota.get("spec", {}).get("hard") or {})
            used = quota_used(self.store, quota["metadata"]["namespace"], hard)
            status = {"hard": hard, "used": {k: _quantity_text(k, v) for k, v in used.items()}}
            if quota.get("status") != status:
                quota["status"] = status
                self.store.update(QUOTA, quota)

    async def shutdown(self) -> None:
        """Kill every container and wait for it, so no process outlives the emulator."""
        running = [c.process for c in self.containers.values() if c.process is not None]
        for container in list(self.containers.values()):
            container.signal(9)
        if running:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=5)
        await asyncio.sleep(0.05)  # let the kubelets record the ends
        tasks = [t for t in self.tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
