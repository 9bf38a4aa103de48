"""The JupyterHub adapter: one named server per job, over the hub's REST API.

* submit: the hub user (created on demand) gets a named server
  ``{prefix}-{job id}`` with the chosen profile's ``user_options``; the
  notebook and inputs are downloaded first (nothing is created if that fails).
* While the server spawns, a watcher reads the hub's progress event stream
  and turns each event into ``Status.progress`` (waking the core).
* Once the server is ready: inputs are uploaded through the contents API;
  an interactive job gets a token scoped to its server and its endpoint; a
  batch job's runner is started through a kernel (``_runner``).
* status_many: one ``GET /users`` per poll, plus one read of ``status.json``
  per batch run still going on.
* cancel (and the core's run-time limit) stops and removes the server;
  release removes it once results are in; cleanup removes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    CallContext,
    Capabilities,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Progress,
    ResultRef,
    Secret,
    Status,
    TransientError,
    deadline_after,
    utcnow,
)

from ._config import JupyterHubConfig
from ._errors import translated
from ._jobfiles import JobFiles
from ._naming import job_id_from_server, native_id, server_name, split_native, valid_user
from ._offers import choose, user_options
from ._runner import WORK_ROOT, launch_code
from ._states import STATE_MAP, derive
from .client import HubClient, ServerClient, ServerInfo

__all__ = ["JupyterHubAdapter"]

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_RESULT_FILES = 200
_PREPARE_ATTEMPTS = 5


class JupyterHubAdapter(BaseAdapter[JupyterHubConfig]):
    plugin = "jupyterhub"
    config_model = JupyterHubConfig
    state_map = STATE_MAP
    poll_interval: ClassVar[timedelta] = timedelta(seconds=2)
    capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}), logs=True, results=True, adopt=True
    )

    def __init__(
        self,
        name: str,
        config: JupyterHubConfig,
        deps: AdapterDeps,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces httpx's own for the hub API (tests inject faults there)."""
        super().__init__(name, config, deps)
        self._hub: HubClient | None = None
        self._transport = transport
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._preparing: dict[str, asyncio.Task[None]] = {}
        self._progress: dict[str, Progress] = {}
        self._spawn_errors: dict[str, str] = {}
        self._prepare_failures: dict[str, int] = {}
        self._refusals: dict[str, str] = {}
        self.hub_version: str | None = None

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        with translated("read the service token"):
            try:
                token = self.config.service_token()
            except OSError as exc:
                raise FatalError(f"cannot read the service token file: {exc.strerror}") from exc
        if not token:
            raise FatalError("no service token configured ('token' or 'token_file')")
        self._hub = HubClient(
            self.config.url, token, timeout=self.config.timeout_seconds, transport=self._transport
        )
        profiles = self.config.profiles
        self.capabilities = Capabilities(
            kinds=frozenset({"batch", "interactive"}),
            images=self.config.accepts_image,
            gpus=any(p.gpus for p in profiles),
            logs=True,
            results=True,
            adopt=True,
            max_walltime_seconds=self.config.max_walltime_seconds,
            queues=tuple(p.slug for p in profiles),
            max_cores=max((p.cores for p in profiles if p.cores), default=None),
            max_memory_bytes=max(
                (p.memory_bytes for p in profiles if p.memory_bytes), default=None
            ),
            max_gpus=max((p.gpus for p in profiles), default=None) if profiles else 0,
        )
        with contextlib.suppress(AdapterError):
            self.hub_version = await self._hub.version()

    async def aclose(self) -> None:
        tasks = [*self._watchers.values(), *self._preparing.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watchers.clear()
        self._preparing.clear()
        if self._hub is not None:
            await self._hub.aclose()
            self._hub = None

    @property
    def hub(self) -> HubClient:
        if self._hub is None:
            raise FatalError("the adapter is not open")
        return self._hub

    async def health(self) -> Health:
        try:
            self.hub_version = await self.hub.version()
            me = await self.hub.whoami()
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        scopes = set(me.get("scopes") or ())
        missing = [s for s in ("admin:servers", "admin:users", "tokens") if s not in scopes]
        if missing:
            return Health(ok=False, message=f"the service token lacks {', '.join(missing)}")
        return Health(ok=True, message=f"JupyterHub {self.hub_version}")

    # ---------------------------------------------------------------- users

    def _user_for(self, request: ExecutionRequest) -> str:
        if request.account:
            user = request.account
        elif request.owner and self.config.user_template:
            user = self.config.user_template.format(owner=request.owner)
        else:
            user = self.config.default_user
        user = user.lower()
        if not valid_user(user):
            raise InvalidRequest(f"{user!r} cannot be a JupyterHub user name")
        return user

    # --------------------------------------------------------------- offers

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        known = self._refusals.get(request.job_id)
        if known is not None:
            return known
        return choose(self.config, request)[1]

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        choices, reason = choose(self.config, request)
        if not choices:
            self._refusals[request.job_id] = reason or "no offer"
            return []
        user = self._user_for(request)
        limit = self.config.named_server_limit_per_user
        if limit:
            found = await self.hub.user(user)
            active = [
                s for s in (found.servers.values() if found else ()) if not s.stopped or s.pending
            ]
            mine = server_name(self.config.server_prefix, request.job_id)
            if len(active) >= limit and mine not in {s.name for s in active}:
                self._refusals[request.job_id] = (
                    f"JupyterHub user {user} already has {len(active)} servers (limit {limit})"
                )
                return []
        self._refusals.pop(request.job_id, None)
        expires = deadline_after(self.config.offer_seconds)
        kind = "notebook session" if request.kind == "interactive" else "notebook run"
        return [
            Offer(
                adapter=self.name,
                offer_id=choice.offer_id(request.job_id),
                summary=f"{kind} on JupyterHub as {user}"
                + (f", profile {choice.slug}" if choice.slug else ""),
                resources=choice.resources,
                expires_at=expires,
                terms={"profile": choice.slug, "user": user},
                queue=choice.slug,
            )
            for choice in choices
        ]

    # --------------------------------------------------------------- submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        choices, reason = choose(self.config, request)
        slug = offer.terms.get("profile")
        if not any(c.slug == slug for c in choices):
            raise InvalidRequest(reason or f"the offer's profile {slug!r} no longer fits")
        if request.kind == "batch" and request.command and request.notebook:
            raise InvalidRequest("give a batch job a notebook or a command, not both")
        if request.command and not all(request.command):
            raise InvalidRequest("the command has an empty argument")
        user = self._user_for(request)
        server = server_name(self.config.server_prefix, request.job_id)
        files = JobFiles(self.deps.data_dir, server)
        notebook = await self._stage_inputs(request, files)
        files.write_spec(
            {
                "job_id": request.job_id,
                "command": list(request.command),
                "env": dict(request.env),
                "notebook": notebook,
                "kernel": request.extensions_for("jupyterhub").get("kernel"),
                "deadline": request.deadline.isoformat() if request.deadline else None,
            }
        )
        try:
            if self.config.create_users:
                await self.hub.create_user(user)
            await self.hub.start_server(user, server, user_options(self.config, request, slug))
        except AdapterError:
            files.remove()
            raise
        native = native_id(user, server)
        self._watch(native)
        return Handle(
            adapter=self.name,
            native_id=native,
            state={"kind": request.kind, "job_id": request.job_id, "profile": slug},
        )

    async def _stage_inputs(self, request: ExecutionRequest, files: JobFiles) -> str | None:
        """Download the notebook and inputs into the job's folder; the notebook's name."""
        urls = ([request.notebook] if request.notebook else []) + list(request.inputs)
        files.create()
        names: list[str] = []
        try:
            async with httpx.AsyncClient(
                timeout=self.config.timeout_seconds, follow_redirects=True
            ) as http:
                for url in urls:
                    parts = urlsplit(url)
                    if parts.scheme not in ("http", "https"):
                        raise InvalidRequest(f"cannot fetch {url!r}: only http(s) URLs are staged")
                    name = _SAFE_ID.sub("_", PurePosixPath(parts.path).name) or "input"
                    while name in names:
                        name = "_" + name
                    names.append(name)
                    await self._download(http, url, files.inputs / name)
        except AdapterError:
            files.remove()
            raise
        return names[0] if request.notebook else None

    async def _download(self, http: httpx.AsyncClient, url: str, target: Path) -> None:
        chunks: list[bytes] = []
        size = 0
        with translated(f"fetch {url}"):
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise InvalidRequest(f"cannot fetch {url}: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.config.download_limit_bytes:
                        raise InvalidRequest(f"{url} is larger than the download limit")
                    chunks.append(chunk)
        await asyncio.to_thread(target.write_bytes, b"".join(chunks))

    # ---------------------------------------------------------- progress

    def _watch(self, native: str) -> None:
        task = self._watchers.get(native)
        if task is None or task.done():
            self._watchers[native] = asyncio.create_task(self._follow_progress(native))

    async def _follow_progress(self, native: str) -> None:
        user, server = split_native(native)
        try:
            async for event in self.hub.progress(user, server):
                message = str(event.get("message") or "spawning")
                fraction = event.get("progress")
                if event.get("failed"):
                    self._spawn_errors[native] = message
                self._progress[native] = Progress(
                    message=message,
                    fraction=min(max(float(fraction) / 100, 0.0), 1.0)
                    if isinstance(fraction, int | float)
                    else None,
                )
                self.deps.wake(native)
                if event.get("ready") or event.get("failed"):
                    return
        except (AdapterError, ValueError) as exc:
            log.debug("progress stream of %s ended: %s", native, exc)
        finally:
            self.deps.wake(native)

    # --------------------------------------------------------------- status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if not handles:
            return {}
        servers = {
            (u.name, name): info for u in await self.hub.users() for name, info in u.servers.items()
        }
        found: dict[str, Status] = {}
        pending_reads: list[tuple[Handle, JobFiles]] = []
        for handle in handles:
            try:
                user, server = split_native(handle.native_id)
            except ValueError:
                continue
            files = JobFiles(self.deps.data_dir, server)
            info = servers.get((user, server))
            kind = str(handle.state.get("kind", "batch"))
            if (
                info is not None
                and info.ready
                and not info.pending
                and kind == "batch"
                and files.marked("prepared")
                and files.final() is None
            ):
                pending_reads.append((handle, files))
                continue
            status = self._derive(handle, info, files)
            if status is not None:
                found[handle.native_id] = status
        finals = await asyncio.gather(
            *(self._read_final(h, f) for h, f in pending_reads), return_exceptions=True
        )
        for (handle, files), final in zip(pending_reads, finals, strict=True):
            if isinstance(final, BaseException) and not isinstance(final, AdapterError):
                raise final
            user, server = split_native(handle.native_id)
            status = self._derive(handle, servers.get((user, server)), files)
            if status is not None:
                found[handle.native_id] = status
        return found

    def _derive(self, handle: Handle, info: ServerInfo | None, files: JobFiles) -> Status | None:
        native = handle.native_id
        kind = str(handle.state.get("kind", "batch"))
        if info is not None and (info.pending == "spawn" or (not info.ready and not info.stopped)):
            self._watch(native)
        prepared = files.marked("prepared")
        if (
            info is not None
            and info.ready
            and not info.pending
            and not prepared
            and not handle.cancel_requested
            and files.final() is None
        ):
            self._prepare_soon(handle)
        failed = files.final()
        endpoint = files.endpoint()
        return derive(
            kind=kind,
            server=info,
            cancel_requested=handle.cancel_requested,
            final=failed,
            prepared=prepared,
            endpoint=endpoint[1] if endpoint else None,
            progress=self._progress.get(native),
            spawn_error=self._spawn_errors.get(native),
        )

    async def _read_final(self, handle: Handle, files: JobFiles) -> None:
        user, server = split_native(handle.native_id)
        async with self._server(user, server) as api:
            final = await api.read_json(f"{WORK_ROOT}/{server}/status.json")
        if isinstance(final, dict):
            files.write_final(final)

    def _server(self, user: str, server: str, token: Secret | None = None) -> ServerClient:
        return self.hub.server(user, server, token)

    # -------------------------------------------------------------- prepare

    def _prepare_soon(self, handle: Handle) -> None:
        native = handle.native_id
        task = self._preparing.get(native)
        if task is None or task.done():
            self._preparing[native] = asyncio.create_task(self._prepare(handle))

    async def _prepare(self, handle: Handle) -> None:
        native = handle.native_id
        user, server = split_native(native)
        files = JobFiles(self.deps.data_dir, server)
        try:
            spec = files.spec() or {}
            work = f"{WORK_ROOT}/{server}"
            async with self._server(user, server) as api:
                await api.mkdir(f"{work}/input")
                await api.mkdir(f"{work}/output")
                if files.inputs.is_dir():
                    for path in sorted(files.inputs.iterdir()):
                        await api.write_bytes(f"{work}/input/{path.name}", path.read_bytes())
                if handle.state.get("kind") == "interactive":
                    await self._make_endpoint(user, server, files, spec)
                else:
                    kernel = await api.start_kernel(self.config.kernel)
                    outcome = await api.execute(kernel, launch_code(work, spec), timeout=60)
                    if outcome.status != "ok":
                        raise FatalError(f"the runner did not start: {outcome.error}")
            files.mark("prepared")
            self._prepare_failures.pop(native, None)
        except TransientError as exc:  # the hub or server is briefly away: the next poll retries
            log.info("preparing %s: %s", native, exc.message)
        except AdapterError as exc:
            failures = self._prepare_failures.get(native, 0) + 1
            self._prepare_failures[native] = failures
            log.warning("preparing %s failed (%d): %s", native, failures, exc.message)
            if failures >= _PREPARE_ATTEMPTS:
                files.write_final(
                    {"state": "failed", "exit_code": 1, "error": f"cannot start: {exc.message}"}
                )
        finally:
            self.deps.wake(native)

    async def _make_endpoint(
        self, user: str, server: str, files: JobFiles, spec: Mapping[str, Any]
    ) -> None:
        if files.endpoint() is not None:
            return
        expires = None
        if spec.get("deadline"):
            left = (datetime.fromisoformat(str(spec["deadline"])) - utcnow()).total_seconds()
            expires = max(int(left), 60)
        token_id, token = await self.hub.create_token(
            user,
            [f"access:servers!server={user}/{server}"],
            note=f"ivoa-broker {server}",
            expires_in=expires,
        )
        info = await self.hub.user(user)
        path = info.servers[server].url if info and server in info.servers else None
        if not path:
            path = f"/user/{quote(user, safe='')}/{quote(server, safe='')}/"
        url = f"{self.config.endpoint_base}{path}"
        if spec.get("notebook"):
            url += f"lab/tree/{WORK_ROOT}/{server}/input/{quote(str(spec['notebook']))}"
        if self.config.endpoint_token_in_url:
            url += f"?token={token.reveal()}"
        files.write_token(token_id, token, url)

    # --------------------------------------------------------------- cancel

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        user, server = split_native(handle.native_id)
        files = JobFiles(self.deps.data_dir, server)
        if handle.state.get("kind", "batch") == "batch" and files.marked("prepared"):
            if files.final() is None:
                with contextlib.suppress(AdapterError):
                    await self._read_final(handle, files)
            if files.final() is not None:
                return  # ended already: keep the server until its results are fetched
        await self.hub.stop_server(user, server, remove=True)
        self.deps.wake(handle.native_id)

    # ------------------------------------------------------- logs / results

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        user, server = split_native(handle.native_id)
        files = JobFiles(self.deps.data_dir, server)
        local = files.results / "log.txt"
        if local.is_file():
            return local.read_text(errors="replace")[-1_000_000:]
        info = await self.hub.user(user)
        if info is None or server not in info.servers or not info.servers[server].ready:
            if files.root.is_dir():
                return ""
            raise NotFound(f"no server {server} of {user}")
        async with self._server(user, server) as api:
            data = await api.read_bytes(f"{WORK_ROOT}/{server}/log.txt")
        return (data or b"").decode(errors="replace")[-1_000_000:]

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        user, server = split_native(handle.native_id)
        files = JobFiles(self.deps.data_dir, server)
        if not files.marked("results-complete"):
            await self._fetch_results(user, server, files)
        refs = []  # an interactive session's endpoint is recorded as a result by the core
        if files.results.is_dir():
            for path in sorted(files.results.iterdir()):
                if path.is_file():
                    mime = mimetypes.guess_type(path.name)[0]
                    if path.suffix == ".ipynb":
                        mime = "application/x-ipynb+json"
                    refs.append(
                        ResultRef(
                            id=path.name,
                            path=path,
                            mime_type=mime or "application/octet-stream",
                            size=path.stat().st_size,
                        )
                    )
        return refs

    async def _fetch_results(self, user: str, server: str, files: JobFiles) -> None:
        info = await self.hub.user(user)
        if info is None or server not in info.servers or not info.servers[server].ready:
            files.mark("results-complete")
            return
        work = f"{WORK_ROOT}/{server}"
        files.results.mkdir(parents=True, exist_ok=True)
        async with self._server(user, server) as api:
            todo = [("", f"{work}/output")]
            count = 0
            while todo and count < _MAX_RESULT_FILES:
                prefix, folder = todo.pop(0)
                for entry in await api.listdir(folder):
                    name = str(entry.get("name", ""))
                    if not name or name.startswith("."):
                        continue
                    if entry.get("type") == "directory":
                        if prefix.count("__") < 3:
                            todo.append((f"{prefix}{name}__", f"{folder}/{name}"))
                        continue
                    data = await api.read_bytes(f"{folder}/{name}")
                    if data is None:
                        continue
                    safe = _SAFE_ID.sub("_", prefix + name)
                    if safe in ("log.txt", "endpoint"):
                        safe = "output_" + safe
                    (files.results / safe).write_bytes(data)
                    count += 1
            log_text = await api.read_bytes(f"{work}/log.txt")
            if log_text is not None:
                (files.results / "log.txt").write_bytes(log_text)
        files.mark("results-complete")

    # ------------------------------------------------------ release/cleanup

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        user, server = split_native(handle.native_id)
        await self.hub.stop_server(user, server, remove=True)
        await self._revoke(user, server)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        user, server = split_native(handle.native_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while True:
            done = await self.hub.stop_server(user, server, remove=True)
            info = await self.hub.user(user)
            if done and (info is None or server not in info.servers):
                break
            if loop.time() > deadline:
                raise TransientError(f"server {server} of {user} is still being removed")
            await asyncio.sleep(0.3)
        await self._revoke(user, server)
        for store in (self._watchers, self._preparing):
            task = store.pop(handle.native_id, None)
            if task is not None:
                task.cancel()
        self._progress.pop(handle.native_id, None)
        self._spawn_errors.pop(handle.native_id, None)
        JobFiles(self.deps.data_dir, server).remove()

    async def _revoke(self, user: str, server: str) -> None:
        note = f"ivoa-broker {server}"
        try:
            tokens = await self.hub.tokens(user)
        except NotFound:
            return
        for token in tokens:
            if token.get("note") == note and token.get("id"):
                await self.hub.delete_token(user, str(token["id"]))

    # ------------------------------------------------------------- orphans

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for user in await self.hub.users():
            for name in user.servers:
                job_id = job_id_from_server(self.config.server_prefix, name)
                if job_id is not None:
                    found[native_id(user.name, name)] = job_id
        return found
