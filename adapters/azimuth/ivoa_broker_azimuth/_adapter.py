"""The Azimuth adapter: batch jobs as machines, interactive sessions as apps or clusters.

Mapping and policy only; every portal call goes through :class:`AzimuthClient`, the one
place where HTTP trouble becomes contract errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from ivoa_broker.protocol import (
    AdapterDeps,
    AuthError,
    BaseAdapter,
    CallContext,
    Capabilities,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Offer,
    Phase,
    ResultRef,
    Status,
    deadline_after,
    utcnow,
)
from ivoa_broker.toolkit.cloudinit import MAX_USER_DATA_BYTES, render_user_data

from ._client import AzimuthClient
from ._config import AzimuthConfig
from ._models import ImageInfo, SizeInfo
from ._naming import job_id_of, job_id_problem, name_for
from ._native import Kind, native_id, parse_native
from ._sizes import choose_size, granted, quota_blocker
from ._staging import RESULT_NAME, Staging, sha256
from ._states import STATE_MAP, app_status, cluster_status, machine_status

__all__ = ["AzimuthAdapter"]

log = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GONE_WAIT_SECONDS = 120.0


class AzimuthAdapter(BaseAdapter[AzimuthConfig]):
    """One Azimuth tenancy: machines for batch jobs, Kubernetes apps or CaaS clusters for
    interactive sessions; the machine's guest reports exit code and files by callback."""

    plugin: ClassVar[str] = "azimuth"
    config_model: ClassVar[type[AzimuthConfig]] = AzimuthConfig
    capabilities: Capabilities = Capabilities(
        kinds=frozenset({"batch", "interactive"}),
        images=True,
        gpus=True,
        logs=True,
        results=True,
        adopt=True,
        callbacks=True,
    )
    state_map: ClassVar[Mapping[str, Phase]] = STATE_MAP
    poll_interval: ClassVar[timedelta] = timedelta(seconds=10)

    def __init__(self, name: str, config: AzimuthConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self.client = AzimuthClient(config)
        self.staging = Staging(deps.data_dir / "azimuth")
        self._scheduling = False
        self._cache: dict[str, tuple[float, Any]] = {}

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        tenancy = await self.client.open()
        try:
            await self._discover(tenancy.name, tenancy.id)
        except BaseException:
            await self.client.aclose()
            raise

    async def _discover(self, tenancy_name: str, tenancy_id: str) -> None:
        """What the tenancy offers: scheduling, the kinds, the largest size."""
        caps = await self.client.capabilities()
        self._scheduling = bool(caps.get("supports_scheduling"))
        sizes = await self._sizes()
        kinds = {"batch"} if caps.get("supports_machines", True) else set()
        if self.config.interactive == "app" and caps.get("supports_apps", True):
            kinds.add("interactive")
        if self.config.interactive == "cluster" and caps.get("supports_clusters", True):
            kinds.add("interactive")
        allowed = [
            s for s in sizes if not self.config.sizes or {s.id, s.name} & set(self.config.sizes)
        ]
        self.capabilities = dataclasses.replace(
            type(self).capabilities,
            kinds=frozenset(kinds),
            max_walltime_seconds=self.config.max_walltime_seconds,
            max_cores=float(max((s.cpus for s in allowed), default=0)) or None,
            max_memory_bytes=max((s.ram_mb for s in allowed), default=0) * 2**20 or None,
            max_gpus=max((s.gpus for s in allowed), default=0),
        )
        log.info("azimuth %s: tenancy %s (%s)", self.name, tenancy_name, tenancy_id)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def health(self) -> Health:
        try:
            await self.client.quotas()
        except Exception as exc:  # health reports, never raises
            return Health(ok=False, message=str(getattr(exc, "message", type(exc).__name__)))
        if self._callback_base() is None:
            return Health(ok=False, message="no callback URL (callback_base_url) for batch jobs")
        return Health(ok=True, message="Azimuth API reachable")

    # ------------------------------------------------------------ helpers

    async def _cached(self, key: str, fetch: Any) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit[0] > self.config.cache_seconds:
            hit = (now, await fetch())
            self._cache[key] = hit
        return hit[1]

    async def _sizes(self) -> list[SizeInfo]:
        result: list[SizeInfo] = await self._cached("sizes", self.client.sizes)
        return result

    async def _image(self) -> ImageInfo:
        images: list[ImageInfo] = await self._cached("images", self.client.images)
        wanted = self.config.image
        for image in images:
            if wanted in (None, image.id, image.name):
                return image
        raise FatalError(f"the configured image {wanted!r} is not in the tenancy's images")

    def _callback_base(self) -> str | None:
        if self.config.callback_base_url:
            base = self.config.callback_base_url.rstrip("/")
            return f"{base}/callbacks/{quote(self.name, safe='')}"
        return self.deps.callback_url

    def _name(self, job_id: str) -> str:
        return name_for(self.config.name_prefix, job_id)

    def _interactive_kind(self) -> Kind:
        return "cluster" if self.config.interactive == "cluster" else "app"

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        if request.kind not in self.capabilities.kinds:
            return f"this Azimuth instance does not run {request.kind} tasks"
        problem = job_id_problem(request.job_id)
        if problem is not None:
            return problem
        if request.kind == "batch":
            if not request.command and not request.image:
                return "a command or an image is needed"
            bad = [k for k in request.env if not _ENV_NAME.match(k)]
            if bad:
                return f"not valid environment variable names: {', '.join(sorted(bad))}"
            if self._callback_base() is None:
                return "no callback URL is configured, so a machine could not report its end"
            limit = self.config.max_walltime_seconds
            if limit is not None and (request.resources.walltime_seconds or 0) > limit:
                return f"the run time asked for exceeds this platform's limit of {limit} s"
        return None

    def _offer(
        self, request: ExecutionRequest, summary: str, terms: dict[str, Any], resources: Any
    ) -> Offer:
        return Offer(
            adapter=self.name,
            offer_id=uuid.uuid4().hex,
            summary=summary,
            resources=resources,
            start=utcnow(),
            expires_at=deadline_after(self.config.offer_seconds),
            reserved=False,
            terms=terms,
        )

    # ------------------------------------------------------------ offers

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if self.explain_refusal(request) is not None:
            return []
        if request.kind == "batch":
            return await self._machine_offers(request)
        if self._interactive_kind() == "app":
            return await self._app_offers(request)
        return await self._cluster_offers(request)

    async def _size_for(self, request: ExecutionRequest) -> SizeInfo | None:
        explicit = request.extensions_for("azimuth").get("size")
        allowed = [explicit] if explicit else self.config.sizes
        return choose_size(await self._sizes(), request.resources, allowed)

    async def _check_quota(self, size: SizeInfo, machines: int) -> None:
        blocker = quota_blocker(await self.client.quotas(), size, machines)
        if blocker is not None:
            raise NoCapacity(blocker)

    async def _machine_offers(self, request: ExecutionRequest) -> list[Offer]:
        size = await self._size_for(request)
        if size is None:
            return []
        await self._check_quota(size, 1)
        image = await self._image()
        res = granted(size, request.resources)
        summary = (
            f"Azimuth machine, size {size.name}: {size.cpus} CPU, {size.ram_mb} MB RAM, "
            f"{size.gpus} GPU, image {image.name}"
        )
        terms = {"kind": "machine", "size_id": size.id, "size": size.name, "image_id": image.id}
        return [self._offer(request, summary, terms, res)]

    async def _app_offers(self, request: ExecutionRequest) -> list[Offer]:
        templates: list[str] = await self._cached("templates", self.client.app_templates)
        template = self.config.app_template
        if template not in templates:
            return []
        summary = f"Azimuth Kubernetes app from template {template}"
        return [
            self._offer(request, summary, {"kind": "app", "template": template}, request.resources)
        ]

    def _end_time(self, request: ExecutionRequest) -> datetime:
        if request.deadline is not None:
            return request.deadline
        seconds = request.resources.walltime_seconds or self.config.lease_seconds
        return utcnow() + timedelta(seconds=seconds)

    async def _cluster_offers(self, request: ExecutionRequest) -> list[Offer]:
        types: list[str] = await self._cached("cluster_types", self.client.cluster_types)
        if self.config.cluster_type not in types:
            return []
        size = await self._size_for(request)
        if size is None:
            return []
        await self._check_quota(size, 0)
        terms: dict[str, Any] = {"kind": "cluster", "size_id": size.id, "size": size.name}
        summary = f"Azimuth {self.config.cluster_type} cluster, size {size.name}"
        if self._scheduling:
            end = self._end_time(request)
            terms["end_time"] = end.isoformat()
            summary += f", until {end.isoformat(timespec='seconds')}"
        return [self._offer(request, summary, terms, granted(size, request.resources))]

    # ------------------------------------------------------------ submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        problem = self.explain_refusal(request)
        if problem is not None:
            raise InvalidRequest(problem)
        if offer.adapter != self.name:
            raise InvalidRequest(f"the offer was made by {offer.adapter!r}, not {self.name!r}")
        kind = str(offer.terms.get("kind", ""))
        expected = "machine" if request.kind == "batch" else self._interactive_kind()
        if kind != expected:
            raise InvalidRequest(f"the offer is for a {kind or 'different'} task, not a {expected}")
        existing = await self._find(expected, self._name(request.job_id))
        if existing is not None:  # idempotent per job id: re-attach
            return self._handle(request.job_id, expected, existing, offer)
        try:
            if expected == "machine":
                ident = await self._create_machine(request, offer)
            elif expected == "app":
                ident = await self._create_app(request)
            else:
                ident = await self._create_cluster(request, offer)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._delete_by_name(expected, self._name(request.job_id)))
            raise
        log.info("azimuth %s: job %s is %s %s", self.name, request.job_id, expected, ident)
        return self._handle(request.job_id, expected, ident, offer)

    def _handle(self, job_id: str, kind: Kind, ident: str, offer: Offer) -> Handle:
        native = native_id(kind, ident)
        state: dict[str, Any] = {"job_id": job_id, "kind": kind}
        digest = self.staging.secret_digest(native)
        if digest:
            state["secret_sha256"] = digest
        if "end_time" in offer.terms:
            state["end_time"] = offer.terms["end_time"]
        return Handle(adapter=self.name, native_id=native, state=state)

    async def _create_machine(self, request: ExecutionRequest, offer: Offer) -> str:
        size_id = str(offer.terms.get("size_id", ""))
        size = next((s for s in await self._sizes() if s.id == size_id), None)
        if size is None:
            self._cache.pop("sizes", None)
            raise InvalidRequest("the offer's size no longer exists; ask for offers again")
        base = self._callback_base()
        if base is None:
            raise FatalError(f"adapter {self.name!r} has no callback URL configured")
        await self._check_quota(size, 1)
        secret = secrets.token_urlsafe(32)
        userdata = render_user_data(
            job_id=request.job_id,
            callback_url=f"{base.rstrip('/')}/{quote(request.job_id, safe='')}",
            secret=secret,
            command=request.command,
            image=request.image,
            env=request.env,
            inputs=request.inputs,
            container_runtime=self.config.container_runtime,
            watchdog=True,
            time_limit=request.seconds_left(),
        )
        if len(userdata.encode()) > MAX_USER_DATA_BYTES:
            raise InvalidRequest("the job's command and environment are too large for user data")
        image_id = str(offer.terms.get("image_id") or (await self._image()).id)
        machine = await self.client.create_machine(
            self._name(request.job_id), image_id, size.id, userdata
        )
        self.staging.remember_secret(native_id("machine", machine.id), sha256(secret))
        return machine.id

    async def _create_app(self, request: ExecutionRequest) -> str:
        app = await self.client.create_app(
            self._name(request.job_id),
            self.config.app_template,
            dict(self.config.app_values),
            self.config.kubernetes_cluster,
        )
        return app.id

    async def _create_cluster(self, request: ExecutionRequest, offer: Offer) -> str:
        values = dict(self.config.cluster_parameters)
        values[self.config.cluster_size_parameter] = str(offer.terms.get("size_id"))
        end = offer.terms.get("end_time") if self._scheduling else None
        if self._scheduling and request.deadline is not None:
            end = request.deadline.isoformat()
        cluster = await self.client.create_cluster(
            self._name(request.job_id),
            self.config.cluster_type,
            values,
            str(end) if end else None,
        )
        return cluster.id

    # ------------------------------------------------------------ finding, deleting

    async def _listing(self, kind: Kind) -> dict[str, tuple[str, bool]]:
        """One list call: native ident -> (name, being deleted)."""
        if kind == "machine":
            return {m.id: (m.name, m.deleting) for m in await self.client.machines()}
        if kind == "app":
            return {a.id: (a.name, a.status == "Uninstalling") for a in await self.client.apps()}
        return {c.id: (c.name, c.status == "DELETING") for c in await self.client.clusters()}

    async def _find(self, kind: Kind, name: str) -> str | None:
        for ident, (found, deleting) in (await self._listing(kind)).items():
            if found == name and not deleting:
                return ident
        return None

    async def _delete(self, kind: Kind, ident: str) -> None:
        with contextlib.suppress(NotFound):
            if kind == "machine":
                await self.client.delete_machine(ident)
            elif kind == "app":
                await self.client.delete_app(ident)
            else:
                await self.client.delete_cluster(ident)

    async def _delete_by_name(self, kind: Kind, name: str) -> None:
        for ident, (found, _) in (await self._listing(kind)).items():
            if found == name:
                await self._delete(kind, ident)

    async def _wait_gone(self, kind: Kind, ident: str) -> None:
        deadline = time.monotonic() + _GONE_WAIT_SECONDS
        delay = 0.05
        while ident in await self._listing(kind):
            if time.monotonic() > deadline:
                raise FatalError(f"the {kind} {ident} is still being deleted")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    # ------------------------------------------------------------ status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if not handles:
            return {}
        parsed = {h.native_id: parse_native(h.native_id) for h in handles}
        kinds = {kind for kind, _ in parsed.values()}
        machines = {m.id: m for m in await self.client.machines()} if "machine" in kinds else {}
        apps = {a.id: a for a in await self.client.apps()} if "app" in kinds else {}
        clusters = {c.id: c for c in await self.client.clusters()} if "cluster" in kinds else {}
        now = utcnow()
        out: dict[str, Status] = {}
        for handle in handles:
            kind, ident = parsed[handle.native_id]
            status: Status | None
            if kind == "machine":
                status = machine_status(
                    machines.get(ident),
                    self.staging.marker(handle.native_id),
                    cancel_requested=handle.cancel_requested,
                )
            elif kind == "app":
                status = app_status(
                    apps.get(ident),
                    cancel_requested=handle.cancel_requested,
                    service=self.config.service,
                )
            else:
                end = handle.state.get("end_time")
                status = cluster_status(
                    clusters.get(ident),
                    cancel_requested=handle.cancel_requested,
                    now=now,
                    end_time=datetime.fromisoformat(str(end)) if end else None,
                    service=self.config.service,
                )
            if status is not None:
                out[handle.native_id] = status
        return out

    # ------------------------------------------------------------ cancel, release, cleanup

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        """Deleting the machine/app/cluster stops it; gone already is success."""
        kind, ident = parse_native(handle.native_id)
        await self._delete(kind, ident)

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """The task ended and its results are staged: delete a machine so a powered-off
        server holds no quota (staged files stay until cleanup)."""
        kind, ident = parse_native(handle.native_id)
        if kind == "machine":
            await self._delete(kind, ident)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        kind, ident = parse_native(handle.native_id)
        await self._delete(kind, ident)
        await self._wait_gone(kind, ident)
        await asyncio.to_thread(self.staging.remove, handle.native_id)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        found: dict[str, str] = {}
        kinds: tuple[Kind, ...] = ("machine", "app", "cluster")
        for kind in kinds:
            if kind != "machine" and kind != self._interactive_kind():
                continue
            if kind != "machine" and self.config.interactive == "none":
                continue
            for ident, (name, deleting) in (await self._listing(kind)).items():
                job_id = job_id_of(self.config.name_prefix, name)
                if job_id is not None and not deleting:
                    found[native_id(kind, ident)] = job_id
        return found

    # ------------------------------------------------------------ callback, results, logs

    async def receive_callback(
        self, handle: Handle, secret: str, fields: Mapping[str, str], files: Mapping[str, bytes]
    ) -> None:
        kind, _ = parse_native(handle.native_id)
        if kind != "machine":
            raise InvalidRequest("only batch machines report by callback")
        expected = str(handle.state.get("secret_sha256") or "") or (
            self.staging.secret_digest(handle.native_id) or ""
        )
        if not expected or not hmac.compare_digest(sha256(secret), expected):
            raise AuthError("the callback secret does not match this job")
        try:
            exit_code = int(fields["exit_code"])
        except (KeyError, ValueError):
            raise InvalidRequest("the callback needs an integer exit_code field") from None
        bad = [n for n in files if not RESULT_NAME.match(n)]
        if bad:
            raise InvalidRequest(f"unacceptable result file names: {', '.join(sorted(bad))[:200]}")
        timed_out = fields.get("timed_out") == "1"
        await asyncio.to_thread(
            self.staging.stage, handle.native_id, exit_code, dict(files), timed_out
        )
        log.info(
            "azimuth %s: %s reported exit code %d with %d file(s)",
            self.name,
            handle.native_id,
            exit_code,
            len(files),
        )
        self.deps.wake(handle.native_id)

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        parse_native(handle.native_id)
        return await asyncio.to_thread(self.staging.results, handle.native_id)

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        """The job's stdout and stderr once reported; before that the machine's console."""
        kind, ident = parse_native(handle.native_id)
        staged = self.staging.output(handle.native_id)
        if staged is not None or kind != "machine":
            return staged or ""
        try:
            return "\n".join(await self.client.machine_logs(ident))
        except NotFound:
            return ""
