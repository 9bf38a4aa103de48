"""The Kubernetes adapter: batch/v1 Jobs for batch tasks, Pod + Service for notebooks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    BaseAdapter,
    CallContext,
    Capabilities,
    Conflict,
    ExecutionRequest,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    Resources,
    ResultRef,
    Status,
    TransientError,
    Unsupported,
    deadline_after,
)

from . import _manifests as manifests
from ._client import KubeClient
from ._config import KubernetesConfig
from ._kubeconfig import Connection, from_kubeconfig, in_cluster
from ._naming import (
    ANNOTATION_JOB,
    LABEL_KIND,
    instance_selector,
    native_id,
    object_name,
    split_native,
)
from ._offers import Facts, judge, node_allocatable
from ._states import STATE_MAP, Grace, job_status
from ._watcher import PodWatcher

Obj = dict[str, Any]
JOB_NAME = "batch.kubernetes.io/job-name"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _pods(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


def _jobs(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs"


def _services(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/services"


class KubernetesAdapter(BaseAdapter[KubernetesConfig]):
    """Runs broker jobs on a Kubernetes cluster (see the package README)."""

    plugin: ClassVar[str] = "kubernetes"
    config_model = KubernetesConfig
    state_map: ClassVar[Mapping[str, Phase]] = STATE_MAP
    poll_interval: ClassVar[timedelta] = timedelta(seconds=5)
    capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}),
        images=True,
        gpus=True,
        logs=True,
        results=True,
        adopt=True,
    )

    def __init__(self, name: str, config: KubernetesConfig, deps: Any) -> None:
        super().__init__(name, config, deps)
        self._client: KubeClient | None = None
        self._conn: Connection | None = None
        self._watcher: PodWatcher | None = None
        self._namespace = config.namespace or "default"
        self._selector = instance_selector(name)
        self._nodes: tuple[float, list[dict[str, float]] | None] | None = None
        self._refusals: dict[str, str] = {}

    # ---------------------------------------------------------------- set-up

    def _connection(self) -> Connection:
        secrets_dir = self.deps.data_dir / ".kube"
        if self.config.in_cluster:
            return in_cluster()
        path = self.config.kubeconfig
        if path is None:
            env = os.environ.get("KUBECONFIG", "")
            path = Path(env.split(os.pathsep)[0]) if env else Path.home() / ".kube" / "config"
        return from_kubeconfig(path, self.config.context, secrets_dir)

    async def open(self) -> None:
        self._conn = self._connection()
        self._namespace = self.config.namespace or self._conn.namespace or "default"
        self._client = KubeClient(
            self._conn,
            timeout=self.config.timeout_seconds,
            retries=self.config.retries,
            backoff=self.config.backoff_seconds,
        )
        with contextlib.suppress(AdapterError):
            nodes = await self._node_facts()
            largest = Facts(nodes=nodes).largest_node if nodes else {}
            self.capabilities = Capabilities(
                kinds=type(self).capabilities.kinds,
                images=True,
                gpus=bool(largest.get(manifests.GPU)) if nodes else True,
                logs=True,
                results=True,
                adopt=True,
                max_walltime_seconds=self.config.max_walltime_seconds,
                queues=(self._namespace,),
                max_cores=largest.get("cpu"),
                max_memory_bytes=int(largest["memory"]) if "memory" in largest else None,
                max_gpus=int(largest.get(manifests.GPU, 0)) if nodes else None,
            )
        if self.config.watch:
            path = "/api/v1/pods" if self.config.namespace_from_account else _pods(self._namespace)
            self._watcher = PodWatcher(
                self._client,
                path,
                self._selector,
                self._pod_changed,
                self._relisted,
                timeout=self.config.watch_timeout_seconds,
                backoff=self.config.backoff_seconds,
            )
            self._watcher.start()

    async def aclose(self) -> None:
        if self._watcher is not None:
            await self._watcher.stop()
        if self._client is not None:
            await self._client.aclose()

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            raise TransientError("the Kubernetes adapter is not open")
        return self._client

    def _pod_changed(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(JOB_NAME) or meta.get("name")
        if owner and meta.get("namespace"):
            self.deps.wake(native_id(meta["namespace"], owner))

    def _relisted(self) -> None:
        self.deps.wake("")

    def _grace(self) -> Grace:
        return Grace(self.config.image_pull_grace_seconds, self.config.unschedulable_grace_seconds)

    def _ns_for(self, request: ExecutionRequest) -> str:
        if self.config.namespace_from_account and request.account:
            return request.account
        return self._namespace

    # ----------------------------------------------------------------- health

    async def health(self) -> Health:
        try:
            version = await self.client.get("/version", "the server version")
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=True, message=f"Kubernetes {version.get('gitVersion', '?')}")

    # ----------------------------------------------------------------- offers

    async def _node_facts(self) -> list[dict[str, float]] | None:
        now = asyncio.get_running_loop().time()
        if self._nodes is not None and now - self._nodes[0] < 30:
            return self._nodes[1]
        try:
            items, _ = await self.client.list("/api/v1/nodes", "list nodes")
            nodes: list[dict[str, float]] | None = [
                node_allocatable(n) for n in items if not (n.get("spec") or {}).get("unschedulable")
            ]
        except AuthError:
            nodes = None  # a namespace-scoped service account may not list nodes
        self._nodes = (now, nodes)
        return nodes

    async def _facts(self, ns: str) -> Facts:
        quotas, _ = await self.client.list(f"/api/v1/namespaces/{ns}/resourcequotas", "list quotas")
        ranges, _ = await self.client.list(
            f"/api/v1/namespaces/{ns}/limitranges", "list limit ranges"
        )
        return Facts(quotas, ranges, await self._node_facts())

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        return self._refusals.get(request.job_id)

    def _refuse(self, request: ExecutionRequest, reason: str) -> list[Offer]:
        if len(self._refusals) > 1000:
            self._refusals.clear()
        self._refusals[request.job_id] = reason
        return []

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if request.kind not in self.capabilities.kinds:
            return self._refuse(request, f"Kubernetes does not run {request.kind} tasks")
        if request.kind == "batch" and not request.command:
            return self._refuse(request, "a Kubernetes batch task needs a command")
        res = request.resources
        walltime = manifests.deadline_seconds(request, self.config)
        cap = self.config.max_walltime_seconds
        if cap is not None and res.walltime_seconds is not None and res.walltime_seconds > cap:
            return self._refuse(request, f"at most {cap} s of run time here")
        ns = self._ns_for(request)
        reason, warnings = judge(res, await self._facts(ns))
        if reason is not None:
            return self._refuse(request, f"namespace {ns}: {reason}")
        granted = Resources(
            cores=res.cores,
            memory_bytes=res.memory_bytes,
            gpus=res.gpus,
            walltime_seconds=walltime,
            disk_bytes=res.disk_bytes,
        )
        what = "notebook pod" if request.kind == "interactive" else "batch/v1 Job"
        return [
            Offer(
                adapter=self.name,
                offer_id=uuid.uuid4().hex,
                summary=f"a {what} in namespace {ns}",
                resources=granted,
                expires_at=deadline_after(300),
                terms={"namespace": ns, "kind": request.kind},
                warnings=tuple(warnings),
                queue=ns,
            )
        ]

    # ----------------------------------------------------------------- submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        ns = str(offer.terms.get("namespace") or self._ns_for(request))
        name = object_name(request.job_id)
        handle = Handle(
            self.name, native_id(ns, name), {"kind": request.kind, "job_id": request.job_id}
        )
        if request.kind == "interactive":
            pod = manifests.notebook_pod(request, self.config, self.name, name, ns)
            svc = manifests.notebook_service(request, self.config, self.name, name, ns)
            await self._create(_pods(ns), pod, request.job_id, "create the notebook pod")
            try:
                await self._create(
                    _services(ns), svc, request.job_id, "create the notebook service"
                )
            except AdapterError:
                with contextlib.suppress(AdapterError):
                    await self.client.delete(
                        f"{_pods(ns)}/{name}", "delete the notebook pod", grace=0
                    )
                raise
            return handle
        if not request.command:
            raise InvalidRequest("a Kubernetes batch task needs a command")
        job = manifests.batch_job(request, self.config, self.name, name, ns)
        await self._create(_jobs(ns), job, request.job_id, "create the Job")
        return handle

    async def _create(self, path: str, body: Obj, job_id: str, what: str) -> None:
        try:
            await self.client.create(path, body, what)
        except Conflict:
            existing = await self.client.get(f"{path}/{body['metadata']['name']}", what)
            owner = ((existing.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_JOB)
            if owner != job_id:
                raise
            # the same broker job submitted again: adopt what exists (idempotent submit)

    # ----------------------------------------------------------------- status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        by_ns: dict[str, list[Handle]] = {}
        for h in handles:
            by_ns.setdefault(split_native(h.native_id)[0], []).append(h)
        found: dict[str, Status] = {}
        for ns, group in by_ns.items():
            found.update(await self._status_ns(ns, group))
        return found

    async def _status_ns(self, ns: str, handles: list[Handle]) -> dict[str, Status]:
        pods, _ = await self.client.list(_pods(ns), "list pods", labels=self._selector)
        newest: dict[str, Obj] = {}
        for pod in sorted(
            pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", "")
        ):
            meta = pod.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(JOB_NAME) or meta.get("name", "")
            newest[owner] = pod
        need_jobs = False
        for h in handles:
            if h.state.get("kind") == "interactive":
                continue
            found = newest.get(split_native(h.native_id)[1])
            pod = found or {}
            if (
                found is None
                or (pod.get("metadata") or {}).get("deletionTimestamp")
                or ((pod.get("status") or {}).get("phase") == "Failed")
            ):
                need_jobs = True
        jobs: dict[str, Obj] = {}
        if need_jobs:
            items, _ = await self.client.list(_jobs(ns), "list jobs", labels=self._selector)
            jobs = {(j.get("metadata") or {}).get("name", ""): j for j in items}
        out: dict[str, Status] = {}
        for h in handles:
            name = split_native(h.native_id)[1]
            interactive = h.state.get("kind") == "interactive"
            endpoint = self._endpoint(ns, name, h) if interactive else None
            status = job_status(
                None if interactive else jobs.get(name),
                newest.get(name),
                cancelled=h.cancel_requested,
                grace=self._grace(),
                endpoint=endpoint,
            )
            if status is not None:
                out[h.native_id] = status
        return out

    def _endpoint(self, ns: str, name: str, handle: Handle) -> str:
        return self.config.url_template.format(
            name=name,
            namespace=ns,
            service=name,
            port=self.config.notebook_port,
            job_id=handle.state.get("job_id", ""),
        )

    # ----------------------------------------------------------- cancel/clean

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        ns, name = split_native(handle.native_id)
        if handle.state.get("kind") == "interactive":
            await self._delete_session(ns, name)
            return
        try:
            job = await self.client.get(f"{_jobs(ns)}/{name}", "read the Job")
        except NotFound:
            return
        for c in (job.get("status") or {}).get("conditions") or []:
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                return  # already finished: nothing to stop
        with contextlib.suppress(NotFound):
            await self.client.delete(
                f"{_jobs(ns)}/{name}", "delete the Job", propagation="Foreground"
            )

    async def _delete_session(self, ns: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.delete(f"{_pods(ns)}/{name}", "delete the notebook pod")
        with contextlib.suppress(NotFound):
            await self.client.delete(f"{_services(ns)}/{name}", "delete the notebook service")

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        ns, name = split_native(handle.native_id)
        if handle.state.get("kind") == "interactive":
            await self._delete_session(ns, name)
            paths = [f"{_pods(ns)}/{name}", f"{_services(ns)}/{name}"]
        else:
            with contextlib.suppress(NotFound):
                await self.client.delete(
                    f"{_jobs(ns)}/{name}", "delete the Job", propagation="Foreground"
                )
            paths = [f"{_jobs(ns)}/{name}"]
        await self._gone(paths)
        if handle.state.get("kind") != "interactive":
            await self._gone_pods(ns, name)
        shutil.rmtree(self._staging(name), ignore_errors=True)
        if self.config.results_local_path is not None:
            shutil.rmtree(self.config.results_local_path / name, ignore_errors=True)

    async def _gone(self, paths: list[str]) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.cleanup_timeout_seconds
        delay = 0.05
        for path in paths:
            while True:
                try:
                    await self.client.get(path, "check the deletion")
                except NotFound:
                    break
                if loop.time() > end:
                    raise TransientError(f"{path.rsplit('/', 1)[-1]} is still being deleted")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _gone_pods(self, ns: str, name: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.cleanup_timeout_seconds
        delay = 0.05
        while True:
            pods, _ = await self.client.list(_pods(ns), "list pods", labels=f"{JOB_NAME}={name}")
            if not pods:
                return
            if loop.time() > end:
                raise TransientError(f"the pods of {name} are still being deleted")
            for pod in pods:  # orphaned by a non-cascading delete: remove them too
                if not (pod.get("metadata") or {}).get("ownerReferences"):
                    with contextlib.suppress(NotFound):
                        await self.client.delete(
                            f"{_pods(ns)}/{pod['metadata']['name']}", "delete a pod"
                        )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        ns, name = split_native(handle.native_id)
        if handle.state.get("kind") == "interactive":
            await self._delete_session(ns, name)
            return
        ttl = {"spec": {"ttlSecondsAfterFinished": self.config.ttl_seconds_after_finished}}
        with contextlib.suppress(NotFound):
            await self.client.patch(f"{_jobs(ns)}/{name}", ttl, "set the Job's TTL")

    async def renew(self, handle: Handle, deadline: datetime, ctx: CallContext) -> datetime | None:
        ns, name = split_native(handle.native_id)
        if handle.state.get("kind") == "interactive":
            raise Unsupported("a running pod's activeDeadlineSeconds cannot be extended")
        job = await self.client.get(f"{_jobs(ns)}/{name}", "read the Job")
        started = (job.get("status") or {}).get("startTime")
        start = (
            datetime.fromisoformat(started.replace("Z", "+00:00")) if started else datetime.now(UTC)
        )
        seconds = max(int((deadline - start).total_seconds()), 1)
        await self.client.patch(
            f"{_jobs(ns)}/{name}", {"spec": {"activeDeadlineSeconds": seconds}}, "extend the Job"
        )
        return start + timedelta(seconds=seconds)

    # ----------------------------------------------------------- logs/results

    async def _pod_of(self, ns: str, name: str, handle: Handle) -> Obj:
        if handle.state.get("kind") == "interactive":
            return await self.client.get(f"{_pods(ns)}/{name}", "read the notebook pod")
        pods, _ = await self.client.list(_pods(ns), "list pods", labels=f"{JOB_NAME}={name}")
        if not pods:
            raise NotFound(f"the Job {name} has no pod (any more)")
        return max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", ""))

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        ns, name = split_native(handle.native_id)
        pod = await self._pod_of(ns, name, handle)
        pod_name = pod["metadata"]["name"]
        try:
            return await self.client.text(f"{_pods(ns)}/{pod_name}/log", "read the pod log", {})
        except InvalidRequest:
            return ""  # 400: the container has not started yet

    def _staging(self, name: str) -> Path:
        return self.deps.data_dir / "results" / name

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        name = split_native(handle.native_id)[1]
        staging = self._staging(name)
        staging.mkdir(parents=True, exist_ok=True)
        log_file = staging / "stdout.log"
        if not log_file.exists():
            try:
                text = await self.logs(handle, ctx)
            except NotFound:
                text = None
            if text is not None:
                tmp = log_file.with_suffix(".part")
                tmp.write_text(text)
                tmp.replace(log_file)
        refs: list[ResultRef] = []
        if log_file.exists():
            refs.append(
                ResultRef(
                    "stdout", path=log_file, mime_type="text/plain", size=log_file.stat().st_size
                )
            )
        if self.config.results_local_path is not None and handle.state.get("kind") != "interactive":
            out = self.config.results_local_path / name
            if out.is_dir():
                for path in sorted(p for p in out.rglob("*") if p.is_file()):
                    rid = _SAFE.sub("_", str(path.relative_to(out)))
                    if rid == "stdout":
                        rid = "output_stdout"
                    refs.append(ResultRef(rid, path=path, size=path.stat().st_size))
        return refs

    # ---------------------------------------------------------------- orphans

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        base_jobs = (
            "/apis/batch/v1/jobs" if self.config.namespace_from_account else _jobs(self._namespace)
        )
        base_pods = "/api/v1/pods" if self.config.namespace_from_account else _pods(self._namespace)
        jobs, _ = await self.client.list(base_jobs, "list jobs", labels=self._selector)
        pods, _ = await self.client.list(
            base_pods, "list pods", labels=f"{self._selector},{LABEL_KIND}=interactive"
        )
        found: dict[str, str] = {}
        for obj in [*jobs, *pods]:
            meta = obj.get("metadata") or {}
            job_id = (meta.get("annotations") or {}).get(ANNOTATION_JOB)
            if job_id and not meta.get("deletionTimestamp"):
                found[native_id(meta.get("namespace", self._namespace), meta.get("name", ""))] = (
                    job_id
                )
        return found
