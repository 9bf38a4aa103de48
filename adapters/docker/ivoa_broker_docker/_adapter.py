"""``DockerAdapter``: broker jobs as containers on Docker Engine or Podman."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    CallContext,
    Capabilities,
    Conflict,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    Progress,
    Resources,
    ResultRef,
    Status,
    deadline_after,
)
from ivoa_broker_docker._client import EngineClient
from ivoa_broker_docker._config import DockerConfig
from ivoa_broker_docker._engine import EngineFacts, cached_facts, facts_from, remember_facts
from ivoa_broker_docker._jobdir import JobDir
from ivoa_broker_docker._naming import JOB_LABEL, container_name, instance_labels
from ivoa_broker_docker._policy import image_for, static_refusal
from ivoa_broker_docker._probe import answers
from ivoa_broker_docker._spec import build
from ivoa_broker_docker._states import STATE_MAP, status_from

__all__ = ["DockerAdapter"]

_LIVE = frozenset({"running", "paused", "restarting"})
_NOT_STARTED = frozenset({"created", "configured", "initialized"})
_WAKE_ON = frozenset({"start", "die", "oom", "destroy", "died", "remove"})
_IMAGE_CHECK_SECONDS = 30.0


class DockerAdapter(BaseAdapter[DockerConfig]):
    """Runs broker jobs as containers on a Docker Engine or a Podman API service.

    Batch jobs (``docker-container`` requests, or a command on the instance's
    ``default_image``) and interactive sessions (an image serving HTTP, published
    on a loopback port). One code path for both engines; their differences are
    in :mod:`ivoa_broker_docker._engine`.
    """

    plugin = "docker"
    config_model = DockerConfig
    capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}),
        images=True,
        gpus=False,
        logs=True,
        results=True,
        adopt=True,
    )
    state_map = STATE_MAP
    poll_interval = timedelta(seconds=10)

    def __init__(self, name: str, config: DockerConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self._client = EngineClient(config)
        #: the job folder is bind-mounted (a local engine): then the core's staged inputs
        #: can be bound too; over the archive API the container gets their URLs only
        self._bind = config.transfer == "bind" or (
            config.transfer == "auto" and self._client.is_local_socket
        )
        self.capabilities = replace(self.capabilities, staged_inputs=self._bind)
        self._facts: EngineFacts | None = None
        self._images: dict[str, tuple[float, str | None]] = {}
        self._refusals: OrderedDict[str, str] = OrderedDict()

    # -------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        await self._client.connect()
        with contextlib.suppress(AdapterError):  # an engine that is down now may come back
            await self._engine()
        loop = asyncio.get_running_loop()

        def on_event(event: Mapping[str, Any]) -> None:
            action = str(event.get("Action") or event.get("status") or "")
            name = (event.get("Actor") or {}).get("Attributes", {}).get("name")
            if name and action.split(":")[0] in _WAKE_ON:
                loop.call_soon_threadsafe(self.deps.wake, str(name))

        self._client.watch(instance_labels(self.name), on_event)

    async def aclose(self) -> None:
        await self._client.close()

    async def _engine(self) -> EngineFacts:
        if self._facts is None:
            address = self._client.base_url
            facts = cached_facts(address)
            if facts is None:
                facts = facts_from(await self._client.ping_headers(), await self._client.info())
                remember_facts(address, facts)
            self._facts = facts
            cores, memory = facts.cpus, facts.memory_bytes
            if self.config.max_cores is not None:
                cores = min(cores, self.config.max_cores)
            if self.config.max_memory_bytes is not None:
                memory = min(memory, self.config.max_memory_bytes)
            self.capabilities = replace(
                type(self).capabilities,
                staged_inputs=self._bind,
                gpus=facts.gpu_runtime is not None and self.config.gpus == "auto",
                max_cores=cores,
                max_memory_bytes=memory,
                max_gpus=None if facts.gpu_runtime else 0,
            )
        return self._facts

    @property
    def engine(self) -> EngineFacts | None:
        """What ``open()`` found out about the engine (None if it was unreachable)."""
        return self._facts

    async def health(self) -> Health:
        try:
            await self._client.ping_headers()
            facts = await self._engine()
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=True, message=f"{facts.kind} {facts.version} (API {facts.api_version})")

    # ----------------------------------------------------------------- offers

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        if self._facts is not None:
            reason = static_refusal(request, self.config, self._facts)
            if reason is not None:
                return reason
        return self._refusals.get(request.job_id)

    def _refuse(self, request: ExecutionRequest, reason: str) -> list[Offer]:
        self._refusals[request.job_id] = reason
        while len(self._refusals) > 1000:
            self._refusals.popitem(last=False)
        return []

    async def _image_refusal(self, image: str) -> str | None:
        now = time.monotonic()
        cached = self._images.get(image)
        if cached is not None and now - cached[0] < _IMAGE_CHECK_SECONDS:
            return cached[1]
        policy = self.config.pull_policy
        reason: str | None = None
        present = await self._client.image_present(image)
        if policy == "never" and not present:
            reason = f"image {image!r} is not on the engine and the pull policy is 'never'"
        elif policy == "always" or not present:
            try:
                await self._client.distribution(image)
            except AdapterError as exc:
                why = (
                    "the pull policy is 'always'"
                    if policy == "always"
                    else "it is not on the engine"
                )
                reason = f"image {image!r} cannot be pulled ({exc.message}) and {why}"
        self._images[image] = (now, reason)
        return reason

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        facts = await self._engine()
        reason = static_refusal(request, self.config, facts)
        if reason is not None:
            return self._refuse(request, reason)
        image = image_for(request, self.config)
        assert image is not None  # static_refusal checked it
        reason = await self._image_refusal(image)
        if reason is not None:
            return self._refuse(request, reason)
        self._refusals.pop(request.job_id, None)
        res = request.resources
        granted = Resources(
            cores=res.cores,
            memory_bytes=res.memory_bytes,
            gpus=res.gpus,
            walltime_seconds=res.walltime_seconds,
        )
        what = "session" if request.kind == "interactive" else "container"
        return [
            Offer(
                adapter=self.name,
                offer_id=f"{self.name}:{request.job_id}",
                summary=f"{what} {image} on {facts.kind} {facts.version}",
                resources=granted,
                expires_at=deadline_after(self.config.offer_seconds),
                terms={"image": image, "engine": facts.kind},
            )
        ]

    # ----------------------------------------------------------------- submit

    def _handle(
        self, name: str, cid: str, request: ExecutionRequest, bind: bool, port: int | None
    ) -> Handle:
        state: dict[str, Any] = {
            "id": cid,
            "job_id": request.job_id,
            "bind": bind,
            "kind": request.kind,
        }
        if port is not None:
            state["port"] = port
        return Handle(adapter=self.name, native_id=name, state=state)

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        facts = await self._engine()
        reason = static_refusal(request, self.config, facts)
        if reason is not None:
            raise InvalidRequest(reason)
        image = image_for(request, self.config)
        assert image is not None
        name = container_name(self.name, request.job_id)
        jobdir = JobDir.of(self.deps.data_dir, name)
        bind = self._bind
        staged = bool(request.staged_inputs) and bind
        plan = build(
            request,
            self.config,
            instance=self.name,
            image=image,
            # absolute: an engine takes a relative bind source for a volume name (a broker
            # started without a config, or with a relative one, has a relative data_dir)
            folder=jobdir.output.absolute() if bind else None,
            gpu_driver=facts.gpu_runtime,
            inputs=jobdir.input.absolute() if staged else None,
        )
        existing = await self._client.inspect_or_none(name)
        if existing is not None:
            return self._adopt(existing, request, plan.bind, plan.port)
        await self._pull(image)
        if bind:
            jobdir.create(world_writable=self.config.user is not None)
        if staged:  # the core's files live only while submit runs: keep them now
            try:
                await asyncio.to_thread(jobdir.place_inputs, request.staged_inputs)
            except OSError as exc:
                jobdir.remove()
                raise FatalError(f"could not keep the staged inputs: {exc}") from exc
        try:
            cid = await self._client.create(name, plan.body)
        except Conflict:  # a concurrent submit of the same job won
            existing = await self._client.inspect_or_none(name)
            if existing is None:
                raise
            return self._adopt(existing, request, plan.bind, plan.port)
        except AdapterError:
            jobdir.remove()
            raise
        try:
            await self._client.start(cid)
        except AdapterError:
            with contextlib.suppress(AdapterError):
                await self._client.remove(cid)
            jobdir.remove()
            raise
        return self._handle(name, cid, request, plan.bind, plan.port)

    def _adopt(
        self, attrs: Mapping[str, Any], request: ExecutionRequest, bind: bool, port: int | None
    ) -> Handle:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(JOB_LABEL) != request.job_id:
            raise Conflict(f"container {attrs.get('Name')!r} belongs to another job")
        name = str(attrs.get("Name", "")).lstrip("/")
        return self._handle(name, str(attrs["Id"]), request, bind, port)

    async def _pull(self, image: str) -> None:
        policy = self.config.pull_policy
        if policy == "never":
            return
        if policy == "if-missing" and await self._client.image_present(image):
            return
        try:
            await self._client.pull(image)
        except AdapterError as exc:
            raise FatalError(f"image {image!r} cannot be pulled: {exc.message}") from exc

    # ----------------------------------------------------------------- status

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        facts = await self._engine()
        jobdir = JobDir.of(self.deps.data_dir, handle.native_id)
        attrs = await self._client.inspect_or_none(handle.native_id)
        if attrs is None:
            saved = jobdir.saved_end()
            if saved is not None:
                return saved
            if jobdir.stopped:
                return Status(Phase.ABORTED, "removed", message="removed at the broker's request")
            raise NotFound(f"container {handle.native_id} is gone")
        host = attrs.get("HostConfig") or {}
        status = status_from(
            attrs,
            facts,
            stopped=jobdir.stopped,
            memory_limit=int(host.get("Memory") or 0) or None,
        )
        port = handle.state.get("port")
        if status.phase == Phase.EXECUTING and isinstance(port, int):
            return await self._session_status(attrs, port, status)
        return status

    async def _session_status(self, attrs: Mapping[str, Any], port: int, status: Status) -> Status:
        ports = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
        host_port = next((p.get("HostPort") for p in ports if p.get("HostPort")), None)
        if host_port is None:
            return replace(status, phase=Phase.QUEUED, progress=Progress("publishing the port"))
        host = self.config.endpoint_host or self.config.publish_address
        if not await answers(self.config.publish_address, int(host_port)):
            return replace(status, phase=Phase.QUEUED, progress=Progress("waiting for the session"))
        return replace(status, endpoint=f"http://{host}:{host_port}{self.config.interactive_path}")

    # ----------------------------------------------------------------- cancel

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        attrs = await self._client.inspect_or_none(handle.native_id)
        if attrs is None:
            return
        native = str((attrs.get("State") or {}).get("Status", "")).lower()
        jobdir = JobDir.of(self.deps.data_dir, handle.native_id)
        if native in _LIVE:
            jobdir.mark_stopped()
            with contextlib.suppress(NotFound):
                await self._client.stop(handle.native_id, self.config.stop_grace_seconds)
        elif native in _NOT_STARTED:
            jobdir.mark_stopped()
            with contextlib.suppress(NotFound):
                await self._client.remove(handle.native_id)

    # ------------------------------------------------------------ logs/results

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        try:
            await self._client.inspect(handle.native_id)  # there (else: the saved logs)
            data = await self._client.logs(handle.native_id, stdout=True, stderr=True)
        except NotFound:
            jobdir = JobDir.of(self.deps.data_dir, handle.native_id)
            parts = [jobdir.root / "stdout.txt", jobdir.root / "stderr.txt"]
            if not any(p.is_file() for p in parts):
                raise
            return "".join(p.read_text(errors="replace") for p in parts if p.is_file())
        return data.decode(errors="replace")

    async def _collect(self, handle: Handle, jobdir: JobDir) -> bool:
        """Save stdout/stderr and (remote engines) the output folder.

        False if the container is gone."""
        try:
            out = await self._client.logs(handle.native_id, stdout=True, stderr=False)
            err = await self._client.logs(handle.native_id, stdout=False, stderr=True)
        except NotFound:
            return False
        jobdir.save_logs(out, err)
        if not handle.state.get("bind", True):
            with contextlib.suppress(NotFound):
                await self._client.copy_out(handle.native_id, self.config.output_dir, jobdir.output)
        return True

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        jobdir = JobDir.of(self.deps.data_dir, handle.native_id)
        if not await self._collect(handle, jobdir) and not jobdir.root.exists():
            raise NotFound(f"container {handle.native_id} and its results are gone")
        return jobdir.results()

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """The end is recorded: keep logs, files and the end, then remove the container."""
        jobdir = JobDir.of(self.deps.data_dir, handle.native_id)
        try:
            status = await self.status(handle, ctx)
        except NotFound:
            return
        if status.phase not in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED):
            return
        await self._collect(handle, jobdir)
        jobdir.save_end(status)
        with contextlib.suppress(NotFound):
            await self._client.remove(handle.native_id)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Remove the container (forced, with its anonymous volumes) and the job folder."""
        if await self._client.inspect_or_none(handle.native_id) is not None:
            with contextlib.suppress(NotFound):
                await self._client.remove(handle.native_id)
        JobDir.of(self.deps.data_dir, handle.native_id).remove()

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for item in await self._client.list(instance_labels(self.name)):
            names = item.get("Names") or []
            labels = item.get("Labels") or {}
            if names and JOB_LABEL in labels:
                found[str(names[0]).lstrip("/")] = str(labels[JOB_LABEL])
        return found
