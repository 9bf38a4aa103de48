"""The one boundary to openstacksdk: blocking calls in worker threads, errors translated.

Nothing outside this module imports ``openstack`` or ``keystoneauth1``. Every SDK call runs
through :meth:`OpenStackClient._call` in a worker thread (``asyncio.to_thread``, bounded by a
semaphore), and every exception the SDK or keystoneauth raises comes out as one of the
protocol's :class:`~ivoa_broker.protocol.AdapterError` subclasses, with known secrets
redacted from messages and details. Idempotent calls (reads, deletes, power-off) are retried
on transient errors with bounded exponential backoff; creates are not (submit is idempotent
per job id one level up).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import keystoneauth1.exceptions as ks_exc
import openstack
import openstack.config
import openstack.connection
import openstack.exceptions as os_exc

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    FatalError,
    InvalidRequest,
    NoCapacity,
    NotFound,
    TransientError,
)
from ivoa_broker.toolkit import REDACTED as TOOLKIT_REDACTED
from ivoa_broker.toolkit import Redactor, error_for_status, parse_retry_after, retrying

from ._config import OpenStackConfig

__all__ = ["AbsoluteLimits", "FlavorInfo", "OpenStackClient", "ServerInfo", "translate_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")

REDACTED = TOOLKIT_REDACTED


@dataclass(frozen=True)
class FlavorInfo:
    id: str
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    extra_specs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerInfo:
    id: str
    name: str
    status: str
    task_state: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    fault_message: str | None = None
    created_at: datetime | None = None
    launched_at: datetime | None = None
    terminated_at: datetime | None = None
    user_data: str | None = None


@dataclass(frozen=True)
class AbsoluteLimits:
    """Compute quota of the project; ``None`` means unlimited (-1) or not reported."""

    cores: int | None
    cores_used: int
    ram_mib: int | None
    ram_used_mib: int
    instances: int | None
    instances_used: int


def _redact(text: str, secrets: Iterable[str]) -> str:
    return Redactor(secrets).scrub(text)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def translate_error(exc: BaseException, op: str, secrets: Iterable[str] = ()) -> AdapterError:
    """Map an openstacksdk/keystoneauth exception to the protocol's error hierarchy."""
    secrets = tuple(secrets)
    raw = _redact(str(exc), secrets)
    detail = f"{op}: {type(exc).__module__}.{type(exc).__name__}: {raw}"
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, os_exc.HttpException):
        status = exc.status_code or 0
        text = _short(_redact(exc.details or exc.message or "", secrets))
        msg = (
            f"OpenStack {op} failed (HTTP {status}): {text}"
            if text
            else f"OpenStack {op} failed (HTTP {status})"
        )
        low = text.lower()
        if status == 401:
            return AuthError(f"OpenStack refused the credentials ({op})", detail=detail)
        if status == 413 or (status == 403 and "quota" in low):
            return NoCapacity(msg, detail=detail)
        if status == 403:
            return AuthError(f"OpenStack refused access ({op}): {text}", detail=detail)
        if isinstance(exc, os_exc.NotFoundException):
            return NotFound(msg, detail=detail)
        retry_after = parse_retry_after(
            exc.response.headers.get("retry-after") if exc.response is not None else None
        )
        return error_for_status(status, msg, retry_after=retry_after, detail=detail)
    if isinstance(exc, os_exc.ResourceNotFound):
        return NotFound(f"OpenStack {op}: not found", detail=detail)
    if isinstance(exc, os_exc.DuplicateResource):
        return InvalidRequest(
            f"OpenStack {op}: the name is ambiguous: {_short(raw)}", detail=detail
        )
    if isinstance(
        exc, ks_exc.Unauthorized | ks_exc.AuthorizationFailure | ks_exc.MissingAuthPlugin
    ):
        return AuthError(f"OpenStack refused the credentials ({op})", detail=detail)
    if isinstance(exc, ks_exc.HttpError):
        status = exc.http_status or 0
        if status in (401, 403):
            return AuthError(f"OpenStack refused the credentials ({op})", detail=detail)
        if status == 429 or status >= 500:
            return TransientError(f"OpenStack {op} failed (HTTP {status})", detail=detail)
        return FatalError(f"OpenStack {op} failed (HTTP {status})", detail=detail)
    if isinstance(
        exc,
        ks_exc.ConnectionError
        | ks_exc.RetriableConnectionFailure
        | ks_exc.DiscoveryFailure
        | ConnectionError
        | TimeoutError,
    ):
        return TransientError(f"OpenStack is unreachable ({op})", detail=detail)
    if isinstance(exc, ks_exc.EndpointNotFound | os_exc.EndpointNotFound | ks_exc.CatalogException):
        return FatalError(f"OpenStack {op}: the service is not in the catalog", detail=detail)
    if isinstance(exc, ks_exc.ClientException | os_exc.SDKException):
        return FatalError(f"OpenStack {op} failed: {_short(raw)}", detail=detail)
    return FatalError(f"OpenStack {op} failed unexpectedly ({type(exc).__name__})", detail=detail)


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _server(s: Any) -> ServerInfo:
    fault = s.fault if isinstance(s.fault, dict) else None
    return ServerInfo(
        id=str(s.id),
        name=str(s.name or ""),
        status=str(s.status or "UNKNOWN").upper(),
        task_state=s.task_state,
        metadata={str(k): str(v) for k, v in (s.metadata or {}).items()},
        fault_message=str(fault.get("message") or "").strip() or None if fault else None,
        created_at=_dt(s.created_at),
        launched_at=_dt(s.launched_at),
        terminated_at=_dt(s.terminated_at),
        user_data=s.user_data,
    )


def _flavor(f: Any) -> FlavorInfo:
    return FlavorInfo(
        id=str(f.id),
        name=str(f.name),
        vcpus=int(f.vcpus or 0),
        ram_mib=int(f.ram or 0),
        disk_gib=int(f.disk or 0),
        extra_specs={str(k): str(v) for k, v in (f.extra_specs or {}).items()},
    )


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    n = int(value)
    return None if n < 0 else n


class OpenStackClient:
    """Async facade over one ``openstack.connection.Connection``."""

    def __init__(
        self, config: OpenStackConfig, *, extra_secrets: Callable[[], Iterable[str]] = tuple
    ) -> None:
        self._config = config
        self._conn: openstack.connection.Connection | None = None
        self._gate = asyncio.Semaphore(config.max_concurrent_calls)
        self._extra_secrets = extra_secrets

    def __repr__(self) -> str:
        return f"OpenStackClient(cloud={self._config.cloud!r}, auth_url={self._config.auth_url!r})"

    # ------------------------------------------------------------------ lifecycle

    def _connect(self) -> openstack.connection.Connection:
        c = self._config
        if c.cloud is not None:
            files = [str(c.clouds_yaml)] if c.clouds_yaml is not None else None
            loader = openstack.config.OpenStackConfig(config_files=files, load_envvars=False)
            region = loader.get_one(cloud=c.cloud, region_name=c.region_name)
            return openstack.connection.Connection(config=region)
        auth: dict[str, Any] = {"auth_url": c.auth_url}
        if c.auth_type == "password":
            assert c.password is not None
            auth.update(
                username=c.username,
                password=c.password.get_secret_value(),
                user_domain_name=c.user_domain_name,
                project_domain_name=c.project_domain_name,
            )
            if c.project_id:
                auth["project_id"] = c.project_id
            else:
                auth["project_name"] = c.project_name
        else:
            assert c.application_credential_secret is not None
            auth.update(
                application_credential_id=c.application_credential_id,
                application_credential_secret=c.application_credential_secret.get_secret_value(),
            )
        return openstack.connect(
            auth_type=c.auth_type,
            auth=auth,
            region_name=c.region_name,
            interface=c.interface,
            verify=c.verify_tls,
            load_yaml_config=False,
            load_envvars=False,
        )

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await self._call("connect", self._connect, retry=False, needs_conn=False)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)

    @property
    def conn(self) -> openstack.connection.Connection:
        if self._conn is None:
            raise FatalError(
                "the OpenStack client is not open (use the adapter as a context manager)"
            )
        return self._conn

    # ------------------------------------------------------------------ the boundary

    def _secrets(self) -> tuple[str, ...]:
        return (*self._config.secrets(), *self._extra_secrets())

    async def _call(
        self,
        op: str,
        fn: Callable[..., T],
        *args: Any,
        retry: bool = True,
        needs_conn: bool = True,
        **kwargs: Any,
    ) -> T:
        if needs_conn:
            _ = self.conn
        attempts = 1 + (self._config.api_retries if retry else 0)

        async def once() -> T:
            try:
                async with self._gate:
                    return await asyncio.to_thread(fn, *args, **kwargs)
            except Exception as exc:  # the boundary: everything foreign is translated here
                err = translate_error(exc, op, self._secrets())
                if err is exc:
                    raise
                raise err from None

        # the toolkit's policy: TransientError only, exponential with jitter, Retry-After
        policy = retrying(attempts, 30.0, initial=self._config.api_backoff_seconds)
        return await policy.call(once)

    # ------------------------------------------------------------------ compute

    async def flavors(self) -> list[FlavorInfo]:
        def run() -> list[FlavorInfo]:
            return [_flavor(f) for f in self.conn.compute.flavors(details=True)]

        return await self._call("list flavors", run)

    async def limits(self) -> AbsoluteLimits:
        def run() -> AbsoluteLimits:
            a = self.conn.compute.get_limits().absolute
            return AbsoluteLimits(
                cores=_limit(a.total_cores),
                cores_used=int(a.total_cores_used or 0),
                ram_mib=_limit(a.total_ram),
                ram_used_mib=int(a.total_ram_used or 0),
                instances=_limit(a.instances),
                instances_used=int(a.instances_used or 0),
            )

        return await self._call("read limits", run)

    async def find_image_id(self, name_or_id: str) -> str:
        def run() -> str:
            return str(self.conn.image.find_image(name_or_id, ignore_missing=False).id)

        return await self._call(f"find image {name_or_id!r}", run)

    async def find_network_id(self, name_or_id: str) -> str:
        def run() -> str:
            return str(self.conn.network.find_network(name_or_id, ignore_missing=False).id)

        return await self._call(f"find network {name_or_id!r}", run)

    async def create_server(
        self,
        *,
        name: str,
        image_id: str,
        flavor_id: str,
        network_id: str | None,
        user_data: str,
        metadata: Mapping[str, str],
    ) -> ServerInfo:
        encoded = base64.b64encode(user_data.encode()).decode()

        def run() -> ServerInfo:
            s = self.conn.compute.create_server(
                name=name,
                image_id=image_id,
                flavor_id=flavor_id,
                networks=[{"uuid": network_id}] if network_id else "none",
                user_data=encoded,
                metadata=dict(metadata),
            )
            return _server(s)

        return await self._call("create server", run, retry=False)

    async def get_server(self, server_id: str) -> ServerInfo | None:
        def run() -> ServerInfo | None:
            try:
                return _server(self.conn.compute.get_server(server_id))
            except os_exc.NotFoundException:
                return None

        return await self._call("get server", run)

    async def list_servers(self, name_prefix: str) -> list[ServerInfo]:
        """Every server of the project whose name starts with ``name_prefix`` (one list call)."""

        def run() -> list[ServerInfo]:
            found = self.conn.compute.servers(details=True, name="^" + name_prefix)
            return [_server(s) for s in found if str(s.name or "").startswith(name_prefix)]

        return await self._call("list servers", run)

    async def delete_server(self, server_id: str) -> None:
        def run() -> None:
            self.conn.compute.delete_server(server_id, ignore_missing=True)

        try:
            await self._call("delete server", run)
        except NotFound:
            return

    async def stop_server(self, server_id: str) -> None:
        """Power the server off; a server already gone is as stopped as it gets (success:
        a cancel that deleted it may race the guest's own power-off)."""

        def run() -> None:
            self.conn.compute.stop_server(server_id)

        try:
            await self._call("stop server", run)
        except NotFound:
            return
