"""The OpenStack adapter: a batch job is a Nova server that runs it via cloud-init.

Mapping and policy only; every platform call goes through :class:`OpenStackClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar
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

from ._client import FlavorInfo, OpenStackClient, ServerInfo
from ._config import OpenStackConfig
from ._flavors import choose_flavor, granted, quota_blocker
from ._states import STATE_MAP, ExitMarker, job_status

__all__ = ["META_INSTANCE", "META_JOB", "META_SECRET_HASH", "OpenStackAdapter"]

log = logging.getLogger(__name__)

#: server metadata keys (Nova allows letters, digits, ``-_:. ``)
META_JOB = "ivoa_broker_job"
META_INSTANCE = "ivoa_broker_instance"
#: sha256 of the per-job callback secret (not secret itself); lets a retried submit re-attach
META_SECRET_HASH = "ivoa_broker_secret_sha256"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_RESULT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_FLAVOR_TTL = 60.0


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class OpenStackAdapter(BaseAdapter[OpenStackConfig]):
    """Batch jobs as Nova servers; the guest reports its exit code and files by callback."""

    plugin: ClassVar[str] = "openstack"
    config_model = OpenStackConfig
    capabilities = Capabilities(
        kinds=frozenset({"batch"}),
        images=True,
        gpus=True,
        logs=True,
        results=True,
        callbacks=True,
    )
    state_map: ClassVar[Mapping[str, Phase]] = STATE_MAP
    poll_interval: ClassVar[timedelta] = timedelta(seconds=10)

    def __init__(self, name: str, config: OpenStackConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self._live_secrets: set[str] = set()
        self.client = OpenStackClient(config, extra_secrets=lambda: tuple(self._live_secrets))
        self._flavors: tuple[float, list[FlavorInfo]] | None = None
        self._ids: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect to the cloud; the configured run-time limit becomes a capability."""
        await self.client.open()
        self.capabilities = dataclasses.replace(
            type(self).capabilities, max_walltime_seconds=self.config.max_walltime_seconds
        )

    async def aclose(self) -> None:
        """Close the cloud connection (servers keep running)."""
        await self.client.close()

    async def health(self) -> Health:
        if self._callback_base() is None:
            return Health(ok=False, message="no callback URL configured (callback_base_url)")
        try:
            await self.client.limits()
        except Exception as exc:  # health reports, never raises
            message = getattr(exc, "message", type(exc).__name__)
            return Health(ok=False, message=str(message))
        return Health(ok=True, message="compute API reachable")

    # ------------------------------------------------------------------ helpers

    def _callback_base(self) -> str | None:
        """This instance's callback prefix: the core's ``deps.callback_url``, or one built
        from ``callback_base_url`` (the broker's public base URL) when configured."""
        if self.config.callback_base_url:
            base = self.config.callback_base_url.rstrip("/")
            return f"{base}/callbacks/{quote(self.name, safe='')}"
        return self.deps.callback_url

    def _callback_url(self, job_id: str) -> str:
        prefix = self._callback_base()
        if prefix is None:
            raise FatalError(f"adapter {self.name!r} has no callback URL configured")
        return f"{prefix.rstrip('/')}/{quote(job_id, safe='')}"

    async def _flavor_list(self) -> list[FlavorInfo]:
        now = time.monotonic()
        if self._flavors is None or now - self._flavors[0] > _FLAVOR_TTL:
            self._flavors = (now, await self.client.flavors())
        return self._flavors[1]

    async def _resolve(self, kind: str, name_or_id: str) -> str:
        key = f"{kind}:{name_or_id}"
        if key not in self._ids:
            try:
                if kind == "image":
                    self._ids[key] = await self.client.find_image_id(name_or_id)
                else:
                    self._ids[key] = await self.client.find_network_id(name_or_id)
            except NotFound as exc:
                raise FatalError(
                    f"the configured {kind} {name_or_id!r} does not exist", detail=exc.detail
                ) from None
        return self._ids[key]

    def _server_name(self, job_id: str) -> str:
        return f"{self.config.server_name_prefix}{job_id}"

    def _job_dir(self, native_id: str) -> Path:
        if not _SAFE_ID.match(native_id):
            raise InvalidRequest("not a server id of this adapter")
        return self.deps.data_dir / "servers" / native_id

    def _read_marker(self, native_id: str) -> ExitMarker | None:
        path = self._job_dir(native_id) / "exit.json"
        try:
            data = json.loads(path.read_text())
            return ExitMarker(int(data["exit_code"]), datetime.fromisoformat(data["received_at"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalError("the stored exit marker is unreadable", detail=str(exc)) from None

    def _mine(self, server: ServerInfo) -> bool:
        return server.metadata.get(META_INSTANCE) == self.name and META_JOB in server.metadata

    def _live(self, server: ServerInfo) -> bool:
        """One of ours and not on its way out (deleted, or being deleted)."""
        return (
            self._mine(server)
            and server.status not in ("DELETED", "SOFT_DELETED")
            and server.task_state != "deleting"
        )

    def _check_request(self, request: ExecutionRequest) -> str | None:
        """Why this adapter cannot run ``request`` at all (None if it can)."""
        if request.kind != "batch":
            return f"the OpenStack adapter runs batch jobs only, not {request.kind!r}"
        if not request.command and not request.image:
            return "a command or an image is needed"
        if len(request.job_id) > 200 or not request.job_id.strip():
            return "the job id must be 1 to 200 characters"
        bad = [k for k in request.env if not _ENV_NAME.match(k)]
        if bad:
            return f"not valid environment variable names: {', '.join(sorted(bad))}"
        limit = self.config.max_walltime_seconds
        if limit is not None and (request.resources.walltime_seconds or 0) > limit:
            return f"the run time asked for exceeds this platform's limit of {limit} s"
        return None

    # ------------------------------------------------------------------ offers

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if self._check_request(request) is not None or self._callback_base() is None:
            return []
        explicit = request.extensions_for("openstack").get("flavor")
        flavor = choose_flavor(
            await self._flavor_list(),
            request.resources,
            allowed=self.config.flavors,
            explicit=explicit,
        )
        if flavor is None:
            return []
        blocker = quota_blocker(await self.client.limits(), flavor)
        if blocker is not None:
            raise NoCapacity(blocker)
        image_id = await self._resolve("image", self.config.image)
        network_id = (
            await self._resolve("network", self.config.network) if self.config.network else None
        )
        res = granted(flavor, request.resources)
        cost: dict[str, float] = {}
        if request.resources.walltime_seconds:
            cost["core_hours"] = round(flavor.vcpus * request.resources.walltime_seconds / 3600, 3)
        warnings: tuple[str, ...] = ()
        if request.image:
            warnings = ("the image must provide docker or podman for OCI images",)
        return [
            Offer(
                adapter=self.name,
                offer_id=uuid.uuid4().hex,
                summary=(
                    f"OpenStack server, flavor {flavor.name}: {flavor.vcpus} vCPU, "
                    f"{flavor.ram_mib} MiB RAM, {int(res.gpus)} GPU"
                ),
                resources=res,
                start=utcnow(),
                expires_at=deadline_after(300),
                reserved=False,
                cost=cost,
                terms={
                    "flavor_id": flavor.id,
                    "flavor": flavor.name,
                    "image_id": image_id,
                    "network_id": network_id,
                },
                warnings=warnings,
            )
        ]

    # ------------------------------------------------------------------ submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        problem = self._check_request(request)
        if problem is not None:
            raise InvalidRequest(problem)
        if offer.adapter != self.name:
            raise InvalidRequest(f"the offer was made by {offer.adapter!r}, not {self.name!r}")
        flavor_id = offer.terms.get("flavor_id")
        flavors = {f.id: f for f in await self._flavor_list()}
        flavor = flavors.get(str(flavor_id))
        if flavor is None:
            self._flavors = None
            raise InvalidRequest("the offer's flavor no longer exists; ask for offers again")
        callback_url = self._callback_url(request.job_id)

        for server in await self._job_servers(request.job_id):  # idempotent per job id
            if server.id:  # re-attach to what an earlier attempt created
                log.info(
                    "openstack %s: job %s already has server %s",
                    self.name,
                    request.job_id,
                    server.id,
                )
                return self._handle(
                    request.job_id, server.id, server.metadata.get(META_SECRET_HASH, ""), flavor
                )

        blocker = quota_blocker(await self.client.limits(), flavor)
        if blocker is not None:
            raise NoCapacity(blocker)
        image_id = str(
            offer.terms.get("image_id") or await self._resolve("image", self.config.image)
        )
        net = offer.terms.get("network_id")
        network_id = str(net) if net else None

        secret = secrets.token_urlsafe(32)
        digest = _sha256(secret)
        user_data = render_user_data(
            job_id=request.job_id,
            callback_url=callback_url,
            secret=secret,
            command=request.command,
            image=request.image,
            env=request.env,
            inputs=request.inputs,
            container_runtime=self.config.container_runtime,
        )
        if len(user_data.encode()) > MAX_USER_DATA_BYTES:
            raise InvalidRequest("the job's command and environment are too large for user_data")
        metadata = {META_JOB: request.job_id, META_INSTANCE: self.name, META_SECRET_HASH: digest}
        self._live_secrets.add(secret)
        try:
            server = await self.client.create_server(
                name=self._server_name(request.job_id),
                image_id=image_id,
                flavor_id=flavor.id,
                network_id=network_id,
                user_data=user_data,
                metadata=metadata,
            )
            await self._await_scheduling(server, flavor)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._delete_job_servers(request.job_id))
            raise
        finally:
            self._live_secrets.discard(secret)
        log.info(
            "openstack %s: job %s is server %s (flavor %s)",
            self.name,
            request.job_id,
            server.id,
            flavor.name,
        )
        return self._handle(request.job_id, server.id, digest, flavor)

    def _handle(self, job_id: str, server_id: str, digest: str, flavor: FlavorInfo) -> Handle:
        return Handle(
            adapter=self.name,
            native_id=server_id,
            state={
                "job_id": job_id,
                "secret_sha256": digest,
                "flavor": flavor.name,
                "server_name": self._server_name(job_id),
            },
        )

    async def _await_scheduling(self, created: ServerInfo, flavor: FlavorInfo) -> None:
        """Wait until Nova's scheduler placed the server; NoValidHost -> NoCapacity.

        (The create answer holds only the id: the server is always read back.)
        """
        deadline = time.monotonic() + self.config.schedule_wait_seconds
        while time.monotonic() < deadline:
            server = await self.client.get_server(created.id)
            if server is None:
                return  # status reports a vanished server
            if server.status == "ERROR":
                fault = server.fault_message or "the server went to ERROR while scheduling"
                if "no valid host" in fault.lower():
                    raise NoCapacity(f"Nova found no host for flavor {flavor.name}: {fault}")
                return  # a platform failure of the task: status reports it
            if server.status != "BUILD" or server.task_state not in (None, "scheduling"):
                return
            await asyncio.sleep(0.5)

    async def _job_servers(self, job_id: str) -> list[ServerInfo]:
        servers = await self.client.list_servers(self._server_name(job_id))
        return [s for s in servers if self._live(s) and s.metadata.get(META_JOB) == job_id]

    async def _delete_job_servers(self, job_id: str) -> None:
        for server in await self._job_servers(job_id):
            await self.client.delete_server(server.id)

    # ------------------------------------------------------------------ status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if not handles:
            return {}
        servers = {s.id: s for s in await self.client.list_servers(self.config.server_name_prefix)}
        now = utcnow()
        grace = timedelta(seconds=self.config.poweroff_grace_seconds)
        return {
            h.native_id: job_status(
                servers.get(h.native_id),
                self._read_marker(h.native_id),
                cancel_requested=h.cancel_requested,
                now=now,
                poweroff_grace=grace,
            )
            for h in handles
        }

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        return (await self.status_many([handle], ctx))[handle.native_id]

    # ------------------------------------------------------------------ cancel, cleanup

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        """Deleting the server is how a running job is stopped (it reads ABORTED once gone)."""
        self._job_dir(handle.native_id)
        await self.client.delete_server(handle.native_id)

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """The job has ended and its results are staged: delete the server (Nova
        removes its ports) so a powered-off VM holds no quota. Staged files stay."""
        await self.client.delete_server(handle.native_id)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Delete the server (Nova removes its ports) and the files staged for the job."""
        job_dir = self._job_dir(handle.native_id)
        await self.client.delete_server(handle.native_id)
        await asyncio.to_thread(shutil.rmtree, job_dir, ignore_errors=True)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        servers = await self.client.list_servers(self.config.server_name_prefix)
        return {s.id: s.metadata[META_JOB] for s in servers if self._live(s)}

    # ------------------------------------------------------------------ callback, results

    async def receive_callback(
        self, handle: Handle, secret: str, fields: Mapping[str, str], files: Mapping[str, bytes]
    ) -> None:
        expected = str(handle.state.get("secret_sha256", ""))
        if not expected or not hmac.compare_digest(_sha256(secret), expected):
            raise AuthError("the callback secret does not match this job")
        try:
            exit_code = int(fields["exit_code"])
        except (KeyError, ValueError):
            raise InvalidRequest("the callback needs an integer exit_code field") from None
        bad = [n for n in files if not _RESULT_NAME.match(n)]
        if bad:
            raise InvalidRequest(f"unacceptable result file names: {', '.join(sorted(bad))[:200]}")
        job_dir = self._job_dir(handle.native_id)
        await asyncio.to_thread(self._stage, job_dir, exit_code, dict(files))
        log.info(
            "openstack %s: server %s reported exit code %d with %d file(s)",
            self.name,
            handle.native_id,
            exit_code,
            len(files),
        )
        self.deps.wake(handle.native_id)

    @staticmethod
    def _stage(job_dir: Path, exit_code: int, files: dict[str, bytes]) -> None:
        results = job_dir / "results"
        results.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = results / f".{name}.part"
            tmp.write_bytes(data)
            tmp.replace(results / name)
        marker = {"exit_code": exit_code, "received_at": utcnow().isoformat()}
        tmp = job_dir / ".exit.json.part"
        tmp.write_text(json.dumps(marker))
        tmp.replace(job_dir / "exit.json")  # last: results are in place before the job ends

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        job_dir = self._job_dir(handle.native_id)
        if self._read_marker(handle.native_id) is None:
            return []
        refs = []
        for path in sorted((job_dir / "results").glob("*")):
            if path.is_file() and not path.name.startswith("."):
                mime = (
                    "text/plain"
                    if path.name in ("stdout", "stderr")
                    else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
                )
                refs.append(
                    ResultRef(id=path.name, path=path, mime_type=mime, size=path.stat().st_size)
                )
        return refs

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        results = self._job_dir(handle.native_id) / "results"
        parts = []
        for name in ("stdout", "stderr"):
            path = results / name
            if path.is_file():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)
