"""The BinderHub adapter: one build-and-launch event stream per job drives the job.

A background task per job reads ``GET /build/<provider>/<spec>`` (server-sent events)
and records each phase in the data folder, waking the core on every change. A stream
that ends without ``ready``/``failed`` is resumed: the server is looked for on the hub
(a launch already asked for), else the build is asked for again (BinderHub attaches to
the running build or finds the built image). Stop and cleanup go to the JupyterHub API.

Each session is tagged on the hub with its job id as soon as ``ready`` names its server,
before the adapter's own record is written (``_tags``): ``list_native`` lists the
records and the tagged servers BinderHub launched (``_naming``), so a session whose
record was lost is still found (its status rebuilt, its orphan removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

from ivoa_broker_jupyterhub.client import ServerInfo

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    CallContext,
    Capabilities,
    EndReason,
    ExecutionRequest,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    Progress,
    Resources,
    Status,
    TransientError,
)

from ._client import BinderClient
from ._config import BinderHubConfig
from ._hub import Hub
from ._records import Record, RecordStore
from ._source import build_spec
from ._tags import SessionTags

__all__ = ["BinderHubAdapter"]

BUILD_PHASES = ("waiting", "fetching", "building", "pushing", "built")
MAX_DROPS = 5
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def native_id_of(job_id: str) -> str:
    return f"binder-{job_id}"


def job_of(native_id: str) -> str | None:
    """The job id in a native id (``binder-<job id>``), None if it is not one."""
    job = native_id.removeprefix("binder-")
    return job if job != native_id and job else None


def _server_of(url: str) -> tuple[str, str] | None:
    """``(user, server)`` from a server URL ``.../user/<user>/<server>/``."""
    parts = [unquote(p) for p in urlparse(url).path.split("/") if p]
    if "user" in parts:
        i = len(parts) - 1 - parts[::-1].index("user")
        rest = parts[i + 1 :]
        if len(rest) >= 2:
            return rest[0], rest[1]
        if len(rest) == 1:
            return rest[0], ""
    return None


class BinderHubAdapter(BaseAdapter[BinderHubConfig]):
    plugin: ClassVar[str] = "binderhub"
    config_model = BinderHubConfig
    state_map: ClassVar[Mapping[str, Phase]] = {
        "submitted": Phase.QUEUED,
        **{p: Phase.QUEUED for p in BUILD_PHASES},
        "launching": Phase.EXECUTING,
        "ready": Phase.EXECUTING,
        "failed": Phase.ERROR,
        "stopped": Phase.COMPLETED,
        "cancelled": Phase.ABORTED,
    }
    capabilities = Capabilities(kinds=frozenset({"interactive"}), logs=True, adopt=True)

    def __init__(self, name: str, config: BinderHubConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self._store = RecordStore(deps.data_dir)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._binder: BinderClient | None = None
        self._hub: Hub | None = None
        self._tags: SessionTags | None = None

    def __repr__(self) -> str:
        return f"BinderHubAdapter(name={self.name!r}, url={self.config.url!r})"

    async def open(self) -> None:
        self._binder = BinderClient(self.config.url, self.config.binder_token())
        self._hub = Hub(self.config.hub_url, self.config.service_token())
        self._tags = SessionTags(self._hub, self.config.hub_tag or self.name)
        self.capabilities = Capabilities(
            kinds=frozenset({"interactive"}),
            logs=True,
            adopt=True,
            max_cores=self.config.max_cores,
            max_memory_bytes=self.config.max_memory_bytes,
            max_gpus=0,
        )

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self._binder is not None:
            await self._binder.aclose()
        if self._hub is not None:
            await self._hub.aclose()

    @property
    def binder(self) -> BinderClient:
        assert self._binder is not None, "adapter not opened"
        return self._binder

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "adapter not opened"
        return self._hub

    @property
    def tags(self) -> SessionTags:
        assert self._tags is not None, "adapter not opened"
        return self._tags

    def _url_of(self, user: str, server: str) -> str:
        base = f"{self.config.hub_url.rstrip('/')}/user/{user}/"
        return f"{base}{server}/" if server else base

    # ------------------------------------------------------------ offers

    async def health(self) -> Health:
        try:
            data = await self.binder.health()
        except AdapterError as exc:
            return Health(False, exc.message)
        if not data.get("ok"):
            bad = [str(c.get("service")) for c in data.get("checks", []) if not c.get("ok")]
            return Health(False, "BinderHub unhealthy: " + (", ".join(bad) or "no reason given"))
        return Health(True, "BinderHub healthy")

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        res = request.resources
        if res.gpus:
            return "BinderHub sessions have no GPUs"
        cores = self.config.max_cores
        if res.cores is not None and cores is not None and res.cores > cores:
            return f"a Binder session has at most {self.config.max_cores:g} cores"
        mem = self.config.max_memory_bytes
        if res.memory_bytes is not None and mem is not None and res.memory_bytes > mem:
            return f"a Binder session has at most {mem} bytes of memory"
        try:
            spec = build_spec(request)
        except InvalidRequest as exc:
            return exc.message
        if spec.provider not in self.config.providers:
            return f"repository provider {spec.provider!r} is not enabled here"
        return None

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if self.explain_refusal(request) is not None:
            return []
        health = await self.health()
        if not health.ok:
            return []
        spec = build_spec(request)
        if spec.provider not in await self.binder.providers():
            return []
        digest = hashlib.sha256(f"{request.job_id}/{spec.path}".encode()).hexdigest()[:16]
        return [
            Offer(
                adapter=self.name,
                offer_id=f"bh-{digest}",
                summary=f"Binder session of {spec.path}",
                resources=Resources(
                    cores=request.resources.cores,
                    memory_bytes=request.resources.memory_bytes,
                    walltime_seconds=request.resources.walltime_seconds,
                ),
                terms={"path": spec.path},
            )
        ]

    # ------------------------------------------------------------ submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        spec = build_spec(request)
        native = native_id_of(request.job_id)
        if self._store.load(native) is None:
            self._store.save(
                native, Record(job_id=request.job_id, path=spec.path, submitted_at=_now())
            )
        self._ensure_task(native)
        return Handle(self.name, native, {"path": spec.path})

    def _ensure_task(self, native: str) -> None:
        task = self._tasks.get(native)
        if task is None or task.done():
            self._tasks[native] = asyncio.create_task(self._drive(native))

    def _update(self, native: str, record: Record) -> None:
        self._store.save(native, record)
        self.deps.wake(native)

    async def _drive(self, native: str) -> None:
        """Read the job's build stream (resuming it) until ready, failed or cancelled."""
        delay = 0.5
        while True:
            record = self._store.load(native)
            if record is None or record.cancelled or record.phase in ("ready", "failed"):
                return
            try:
                if record.phase == "launching" and await self._adopt(native, record):
                    return
                async for event in self.binder.build(record.path):
                    if await self._apply(native, record, event):
                        return
                # the stream ended without an end: resume it
                record.drops += 1
                record.message = "build stream dropped; resuming"
                self._update(native, record)
                if await self._adopt(native, record):
                    return
                if record.drops > MAX_DROPS:
                    record.phase, record.ended_at = "failed", _now()
                    record.message = f"the build stream dropped {record.drops} times"
                    self._update(native, record)
                    return
            except TransientError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except AdapterError as exc:
                record.phase, record.ended_at = "failed", _now()
                record.message = exc.message
                record.log = [*record.log, exc.message][-200:]  # the error document shows it
                self._update(native, record)
                return

    async def _apply(self, native: str, record: Record, event: Mapping[str, Any]) -> bool:
        phase = str(event.get("phase", ""))
        message = str(event.get("message", "")).rstrip("\n")
        if message:
            record.log = [*record.log, message][-200:]
        if phase not in self.state_map:
            return False
        record.message = message
        if phase == "ready":
            url = str(event.get("url", ""))
            where = _server_of(url)
            if where is not None:
                record.server_user, record.server_name = where
                await self._tag(record)  # on the hub before the record: a kill now leaves a tag
            record.url, record.started_at = url, _now()
            if event.get("token"):
                from ivoa_broker.protocol import Secret

                self._store.save_token(native, Secret(str(event["token"])))
        if phase == "failed":
            record.ended_at = _now()
        record.phase = phase
        self._update(native, record)
        return phase in ("ready", "failed")

    async def _tag(self, record: Record) -> bool:
        """Tag the record's server with its job on the hub (once); a failure is retried
        by the next status poll. True when it is tagged."""
        if record.tagged or record.server_user is None or record.server_name is None:
            return record.tagged
        try:
            await self.tags.put(record.job_id, record.server_user, record.server_name)
        except AdapterError as exc:
            log.warning("tagging the session of job %s failed: %s", record.job_id, exc.message)
            return False
        record.tagged = True
        return True

    async def _take(self, native: str, record: Record, server: ServerInfo, why: str) -> None:
        """``server`` is the job's session: tag it, a session token for the endpoint."""
        record.server_user, record.server_name = server.user, server.name
        record.url = self._url_of(server.user, server.name)
        await self._tag(record)
        _, token = await self.hub.create_token(
            server.user, [f"access:servers!server={server.user}/{server.name}"], note="binder"
        )
        self._store.save_token(native, token)
        record.phase, record.started_at = "ready", record.started_at or _now()
        record.message = why

    async def _adopt(self, native: str, record: Record) -> bool:
        """A server of this build launched for this job (before the stream dropped)."""
        server = await self._find_server(record)
        if server is None:
            return False
        await self._take(native, record, server, "server found again on the hub")
        self._update(native, record)
        return True

    async def _find_server(self, record: Record) -> ServerInfo | None:
        """The hub server of ``record``: by name, else (a launch was asked for) the one
        tagged with its job, else one of its build, started since the submit, that no
        record claims and no tag gives to another job."""
        if record.server_user is not None and record.server_name is not None:
            user = await self.hub.user(record.server_user)
            return None if user is None else user.servers.get(record.server_name)
        if record.phase != "launching":
            return None  # BinderHub launches nothing for a build whose stream is gone
        tagged = await self.tags.of_job(record.job_id)  # killed after the tag, before the record
        if tagged:
            return tagged[0]
        claimed = {
            (r.server_user, r.server_name) for r in self._store.all().values() if r.server_name
        }
        request = f"v2/{record.path}"
        for user in await self.hub.users():
            for server in user.servers.values():
                if (server.user, server.name) in claimed or server.user_options.get(
                    "binder_request"
                ) != request:
                    continue
                if not (server.started and server.started >= record.submitted_at[:19]):
                    continue
                if not await self.tags.claimed_elsewhere(server, record.job_id):
                    return server
        return None

    async def _recover(self, handles: Sequence[Handle]) -> None:
        """Records lost (a broker killed before writing one, a wiped folder) are rebuilt
        from the sessions tagged with their jobs on the hub."""
        jobs = {job_of(h.native_id): h for h in handles}
        jobs.pop(None, None)
        if not jobs:
            return
        for tagged in await self.tags.ours():
            handle = jobs.pop(tagged.job_id, None)
            if handle is None:
                continue
            request = str(tagged.server.user_options.get("binder_request", ""))
            path = str(handle.state.get("path") or request.removeprefix("v2/"))
            record = Record(
                job_id=tagged.job_id,
                path=path,
                submitted_at=tagged.server.started or _now(),
                started_at=tagged.server.started,
                tagged=True,
            )
            await self._take(
                handle.native_id, record, tagged.server, "session found again on the hub"
            )
            self._store.save(handle.native_id, record)

    # ------------------------------------------------------------ status

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        found = await self.status_many([handle], ctx)
        if handle.native_id not in found:
            raise NotFound(f"no Binder job {handle.native_id}")
        return found[handle.native_id]

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        out: dict[str, Status] = {}
        await self._recover([h for h in handles if self._store.load(h.native_id) is None])
        for handle in handles:
            record = self._store.load(handle.native_id)
            if record is None:
                continue
            if record.phase == "ready":
                await self._check_alive(handle.native_id, record, handle.cancel_requested)
            elif self.state_map[record.phase] not in (Phase.ERROR, Phase.COMPLETED, Phase.ABORTED):
                self._ensure_task(handle.native_id)
            out[handle.native_id] = self._status(handle.native_id, record, ctx)
        return out

    async def _check_alive(self, native: str, record: Record, cancelled: bool) -> None:
        server = await self._find_server(record)
        if server is None or server.stopped:
            record.phase = "cancelled" if (cancelled or record.cancelled) else "stopped"
            record.ended_at = _now()
            record.message = "the session's server is gone"
            self._store.save(native, record)
        elif not record.tagged and await self._tag(record):
            self._store.save(native, record)

    def _status(self, native: str, record: Record, ctx: CallContext) -> Status:
        phase = self.state_map[record.phase]
        common: dict[str, Any] = {
            "native_state": record.phase,
            "started_at": _ts(record.started_at),
            "ended_at": _ts(record.ended_at),
        }
        if record.phase == "failed":
            tail = "\n".join(record.log[-self.config.log_lines :])
            return Status(
                phase,
                exit_code=1,
                reason=EndReason.BUILD_FAILED,
                message=f"Binder build failed:\n{tail}",
                **common,
            )
        if record.phase == "stopped":
            return Status(phase, exit_code=0, message=record.message, **common)
        if record.phase == "ready":
            endpoint = record.url
            token = self._store.token(native)
            if endpoint and token is not None and self.config.endpoint_token_in_url:
                endpoint = f"{endpoint}?token={token.reveal()}"
            return Status(phase, endpoint=endpoint, **common)
        return Status(
            phase,
            message=record.message or None,
            progress=Progress(record.message or record.phase),
            **common,
        )

    # ------------------------------------------------------------ stop

    async def _stop_task(self, native: str) -> None:
        task = self._tasks.pop(native, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        record = self._store.load(handle.native_id)
        if record is None:
            return
        if self.state_map[record.phase] in (Phase.ERROR, Phase.COMPLETED, Phase.ABORTED):
            return
        record.cancelled = True
        self._store.save(handle.native_id, record)
        await self._stop_task(handle.native_id)
        await self._stop_server(record)
        record.phase, record.ended_at = "cancelled", _now()
        record.message = "cancelled"
        self._update(handle.native_id, record)

    async def _stop_server(self, record: Record) -> None:
        server = await self._find_server(record)
        if server is not None:
            record.server_user, record.server_name = server.user, server.name
            await self.hub.stop(server)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Everything of the job: its record's session and every session tagged with its
        job on the hub (a Handle of only the native id finds those: an orphan)."""
        job = job_of(handle.native_id)
        record = self._store.load(handle.native_id)
        servers: dict[tuple[str, str], ServerInfo] = {}
        if record is not None:
            record.cancelled = True
            self._store.save(handle.native_id, record)
            await self._stop_task(handle.native_id)
            server = await self._find_server(record)
            if server is not None:
                servers[server.user, server.name] = server
        if job is not None:
            for server in await self.tags.of_job(job):
                servers[server.user, server.name] = server
        for server in servers.values():
            await self.hub.remove_session(server)
        if record is not None and record.server_user is not None and record.server_name:
            # a named server culled before: its tokens outlive it
            await self.hub.revoke_server_tokens(record.server_user, record.server_name)
        self._store.remove(handle.native_id)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        """The jobs of the adapter's records and of the sessions tagged with this
        instance's tag on the hub (a session whose record was lost is an orphan found)."""
        found = {native: record.job_id for native, record in self._store.all().items()}
        for tagged in await self.tags.ours():
            found[native_id_of(tagged.job_id)] = tagged.job_id
        return found

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        record = self._store.load(handle.native_id)
        if record is None:
            raise NotFound(f"no Binder job {handle.native_id}")
        return "\n".join(record.log) + "\n"
