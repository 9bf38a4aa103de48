"""The emulated Azimuth portal: routes, authentication, quotas and lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from ivoa_broker.toolkit.faults import Fault, Faults, injected

from ._guest import kill_guest, run_guest
from ._model import (
    ClusterType,
    EmulatedApp,
    EmulatedCluster,
    EmulatedMachine,
    Links,
    Size,
    Tenancy,
    now,
)
from ._settings import EmulatorSettings

__all__ = ["AzimuthEmulator"]

_ID = re.compile(r"^[-a-zA-Z0-9.]+$")  # azimuth/urls.py IdConverter
_MACHINE_NAME = re.compile(r"^[A-Za-z0-9.-]+$")  # CreateMachineSerializer
_SERIALIZER_ID = re.compile(r"^[-a-zA-Z0-9_.]+$")  # serializers.ID_REGEX
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]+[a-z0-9]$")  # CreateKubernetesAppSerializer
_TEMPLATE = re.compile(r"^[a-z0-9-]+$")
_CLUSTER_NAME = re.compile(r"^[a-z0-9-]+$")  # CreateClusterSerializer
_PATTERN = "This value does not match the required pattern."
_REQUIRED = "This field is required."
_EXPIRED = "Your session has expired."
_QUOTA = "Requested operation would exceed at least one quota. Please check your tenancy quotas."


_GARBAGE = b"<html>\x00\xff"


def _fault_status(fault: Fault) -> Response:
    """DRF's error answers: JSON ``detail`` (or the fault's own text body)."""
    body = fault.body or json.dumps({"detail": "Emulated failure."})
    media = "application/json" if fault.body is None else "text/plain"
    return PlainTextResponse(body, status_code=fault.status, media_type=media)


@dataclass
class _Session:
    username: str
    user_id: str
    tenancies: tuple[str, ...]
    expires: float


class _Problem(Exception):
    """An error answer, as DRF renders it."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers


def _detail(status: int, detail: str, code: str | None = None) -> _Problem:
    body: dict[str, Any] = {"detail": detail}
    if code:
        body["code"] = code
    return _Problem(status, body)


Handler = Callable[..., Awaitable[Response]]


class AzimuthEmulator:
    """An Azimuth portal in one process. ``app`` is the Starlette application.

    Tests steer it with :meth:`add_tenancy`, :meth:`add_appcred`, :meth:`expire_tokens`,
    :meth:`purge`, ``faults`` and ``calls``.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.faults = Faults()
        #: ``(method, path)`` of every call under /api and /auth, in order
        self.calls: list[tuple[str, str]] = []
        self.tenancies: dict[str, Tenancy] = {}
        self._appcreds: dict[str, tuple[str, str, str, tuple[str, ...]]] = {}
        self._tokens: dict[str, _Session] = {}
        self._ips = 10
        self._loop: asyncio.AbstractEventLoop | None = None
        for cred, (secret, user, tenancy_name) in self.settings.appcreds.items():
            tenancy = self.add_tenancy(tenancy_name)
            self.add_appcred(cred, secret, user, tenancy.id)
        self.app = Starlette(
            routes=self._routes(),
            lifespan=self._lifespan,
            exception_handlers={405: self._not_allowed},
        )

    # ------------------------------------------------------------ test controls

    def add_tenancy(self, name: str, **quotas: int) -> Tenancy:
        """A new tenancy; ``quotas`` as ``cpus=``, ``ram=`` (MB), ``machines=`` (-1: none)."""
        tenancy = Tenancy(id=uuid.uuid4().hex, name=name)
        for key, value in quotas.items():
            setattr(tenancy, f"quota_{key}", value)
        self.tenancies[tenancy.id] = tenancy
        return tenancy

    def add_appcred(self, cred_id: str, secret: str, username: str, *tenancy_ids: str) -> None:
        """An application credential of ``username`` (scoped to the first tenancy)."""
        user_id = uuid.uuid5(uuid.NAMESPACE_URL, username).hex
        self._appcreds[cred_id] = (secret, username, user_id, tenancy_ids)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (Keystone token expiry)."""
        self._tokens.clear()

    def native_ids(self, tenancy_id: str) -> set[str]:
        """Ids of the machines, apps and clusters in a tenancy that are not being deleted."""
        tenancy = self.tenancies[tenancy_id]
        ids = {m.id for m in list(tenancy.machines.values()) if m.task != "Deleting"}
        ids |= {a.id for a in list(tenancy.apps.values()) if a.status != "Uninstalling"}
        ids |= {c.id for c in list(tenancy.clusters.values()) if c.status != "DELETING"}
        return ids

    def purge(self, tenancy_id: str) -> None:
        """Remove everything in a tenancy at once, behind the clients' backs."""
        tenancy = self.tenancies[tenancy_id]
        for machine in list(tenancy.machines.values()):
            kill_guest(machine)
        tasks = [t for a in tenancy.apps.values() for t in a.tasks]
        tasks += [t for c in tenancy.clusters.values() for t in c.tasks]
        for task in tasks:
            task.cancel()
        tenancy.machines.clear()
        tenancy.apps.clear()
        tenancy.clusters.clear()

    # ------------------------------------------------------------ plumbing

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        yield
        for tenancy_id in list(self.tenancies):
            self.purge(tenancy_id)

    def _spawn(self, owner: list[asyncio.Task[None]], coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await coro

        owner.append(asyncio.ensure_future(guarded()))

    def _routes(self) -> list[Route]:
        t = "/api/tenancies/{tenant}"
        r: list[tuple[str, Handler, list[str]]] = [
            ("/_status/", self._status, ["GET"]),
            ("/auth/authenticators/", self._authenticators, ["GET"]),
            ("/auth/login/", self._login, ["GET"]),
            ("/auth/{authenticator}/token/", self._token, ["POST"]),
            ("/api/", self._cloud_info, ["GET"]),
            ("/api/session/", self._session, ["GET"]),
            ("/api/tenancies/", self._tenancies, ["GET"]),
            (f"{t}/capabilities/", self._capabilities, ["GET"]),
            (f"{t}/quotas/", self._quotas, ["GET"]),
            (f"{t}/images/", self._images, ["GET"]),
            (f"{t}/images/{{image}}/", self._image, ["GET"]),
            (f"{t}/sizes/", self._sizes, ["GET"]),
            (f"{t}/sizes/{{size}}/", self._size, ["GET"]),
            (f"{t}/machines/", self._machines, ["GET", "POST"]),
            (f"{t}/machines/{{machine}}/", self._machine, ["GET", "DELETE"]),
            (f"{t}/machines/{{machine}}/logs/", self._machine_logs, ["GET"]),
            (f"{t}/kubernetes_app_templates/", self._app_templates, ["GET"]),
            (f"{t}/kubernetes_app_templates/{{template}}/", self._app_template, ["GET"]),
            (f"{t}/kubernetes_apps/", self._apps, ["GET", "POST"]),
            (f"{t}/kubernetes_apps/{{app}}/", self._app, ["GET", "DELETE"]),
            (f"{t}/kubernetes_apps/{{app}}/services/{{service}}/", self._app_service, ["GET"]),
            (f"{t}/cluster_types/", self._cluster_types, ["GET"]),
            (f"{t}/cluster_types/{{cluster_type}}/", self._cluster_type, ["GET"]),
            (f"{t}/clusters/", self._clusters, ["GET", "POST"]),
            (f"{t}/clusters/{{cluster}}/", self._cluster, ["GET", "DELETE"]),
            (f"{t}/clusters/{{cluster}}/services/{{service}}/", self._cluster_service, ["GET"]),
            ("/_zenith/{fqdn}/{rest:path}", self._zenith, ["GET"]),
        ]
        return [Route(path, self._wrap(handler), methods=methods) for path, handler, methods in r]

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            path = request.url.path
            if path.startswith(("/api", "/auth")):
                self.calls.append((request.method, path))
                fault = self.faults.take(request.method, path)
                if fault is not None:
                    answer = await injected(fault, request, _fault_status, garbage=_GARBAGE)
                    if answer is not None:
                        return answer
            for name, value in request.path_params.items():
                if name not in ("rest", "fqdn") and not _ID.match(str(value)):
                    return JSONResponse({"detail": "Not found."}, status_code=404)
            try:
                return await handler(request, **request.path_params)
            except _Problem as problem:
                return JSONResponse(
                    problem.body, status_code=problem.status, headers=problem.headers
                )

        return endpoint

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        """DRF's answer to a method a view does not take."""
        return JSONResponse({"detail": f'Method "{request.method}" not allowed.'}, 405)

    def _base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _auth(self, request: Request) -> _Session:
        header = request.headers.get("authorization", "").strip()
        token = header.removeprefix("Bearer").strip()
        if not token:
            raise _Problem(
                401,
                {"detail": "Authentication credentials were not provided."},
                {"WWW-Authenticate": "Token"},
            )
        session = self._tokens.get(token)
        if session is None or session.expires < time.monotonic():
            self._tokens.pop(token, None)
            raise _Problem(401, {"detail": _EXPIRED}, {"WWW-Authenticate": "Token"})
        return session

    def _scoped(self, request: Request, tenant: str) -> tuple[_Session, Tenancy, Links]:
        session = self._auth(request)
        tenancy = self.tenancies.get(tenant)
        if tenancy is None or tenant not in session.tenancies:
            raise _detail(404, f"Could not find tenancy with ID {tenant}.")
        return session, tenancy, Links(self._base(request), tenant)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _detail(400, f"JSON parse error - {exc}", "parse_error") from None
        if not isinstance(data, dict):
            raise _Problem(
                400,
                {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
            )
        return data

    # ------------------------------------------------------------ auth, session

    async def _status(self, request: Request) -> Response:
        return Response(status_code=204)

    async def _authenticators(self, request: Request) -> Response:
        return JSONResponse(
            {"appcred": {"type": "openstack_application_credential", "options": []}}
        )

    async def _login(self, request: Request) -> Response:
        return HTMLResponse("<html><body><h1>Sign in to Azimuth</h1></body></html>")

    async def _token(self, request: Request, authenticator: str) -> Response:
        if authenticator != "appcred":
            return JSONResponse(
                {"message": f"Could not find authenticator '{authenticator}'."}, status_code=404
            )
        try:
            data = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"message": "Request does not contain valid JSON."}, 400)
        cred = self._appcreds.get(str(data.get("application_credential_id")))
        given = str(data.get("application_credential_secret", ""))
        if cred is None or not secrets.compare_digest(cred[0], given):
            return JSONResponse({"message": "Invalid credentials provided."}, status_code=401)
        token = "gAAAAA" + secrets.token_urlsafe(48)
        self._tokens[token] = _Session(
            cred[1], cred[2], cred[3], time.monotonic() + self.settings.token_ttl_seconds
        )
        body = {
            "authenticator_type": "openstack_application_credential",
            "authenticator": "appcred",
            "authenticator_option": None,
            "token": token,
        }
        return JSONResponse(body, status_code=201)

    async def _cloud_info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "available_clouds": [{"name": "emulated", "label": "Emulated", "url": "/"}],
                "current_cloud": "emulated",
                "links": {
                    "session": f"{self._base(request)}/api/session/",
                    "documentation": "https://azimuth-cloud.github.io/azimuth-config/",
                    "support": None,
                },
            }
        )

    async def _session(self, request: Request) -> Response:
        session = self._auth(request)
        base = self._base(request)
        token = request.headers["authorization"].removeprefix("Bearer").strip()
        return JSONResponse(
            {
                "user_id": session.user_id,
                "username": session.username,
                "token": token,
                "links": {
                    "ssh_public_key": f"{base}/api/ssh_public_key/",
                    "tenancies": f"{base}/api/tenancies/",
                },
            }
        )

    async def _tenancies(self, request: Request) -> Response:
        session = self._auth(request)
        base = self._base(request)
        return JSONResponse(
            [
                Links(base, tid).tenancy(self.tenancies[tid])
                for tid in session.tenancies
                if tid in self.tenancies
            ]
        )

    async def _capabilities(self, request: Request, tenant: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        return JSONResponse(
            {
                "supports_clusters": True,
                "supports_kubernetes": True,
                "supports_apps": True,
                "supports_scheduling": self.settings.scheduling,
                "supports_volumes": False,
                "supports_machines": True,
                "links": {"self": links.api("capabilities")},
            }
        )

    # ------------------------------------------------------------ quotas

    def _used(self, tenancy: Tenancy) -> tuple[int, int, int]:
        sizes = [m.size for m in tenancy.machines.values()]
        sizes += [c.size for c in tenancy.clusters.values() if c.size is not None]
        return (
            sum(s.cpus for s in sizes),
            sum(s.ram for s in sizes),
            len(tenancy.machines),
        )

    def _fits(self, tenancy: Tenancy, size: Size, machines: int) -> bool:
        cpus, ram, count = self._used(tenancy)

        def ok(limit: int, used: int, more: int) -> bool:
            return limit < 0 or used + more <= limit

        return (
            ok(tenancy.quota_cpus, cpus, size.cpus)
            and ok(tenancy.quota_ram, ram, size.ram)
            and ok(tenancy.quota_machines, count, machines)
        )

    async def _quotas(self, request: Request, tenant: str) -> Response:
        _, tenancy, _ = self._scoped(request, tenant)
        cpus, ram, count = self._used(tenancy)

        def quota(
            resource: str, label: str, units: str | None, allocated: int, used: int, qtype: str
        ) -> dict[str, Any]:
            related = {"cpus": ["VCPU", "PCPU"], "ram": ["MEMORY_MB"]}.get(resource, [])
            return {
                "resource": resource,
                "label": label,
                "units": units,
                "allocated": allocated,
                "used": used,
                "related_resource_names": related,
                "quota_type": qtype,
            }

        return JSONResponse(
            [
                quota("cpus", "CPUs", None, tenancy.quota_cpus, cpus, "COMPUTE"),
                quota("ram", "RAM", "MB", tenancy.quota_ram, ram, "COMPUTE"),
                quota("machines", "Machines", None, tenancy.quota_machines, count, "COMPUTE"),
                quota(
                    "external_ips", "External IPs", None, tenancy.quota_external_ips, 0, "NETWORK"
                ),
                quota("storage", "Volume Storage", "GB", tenancy.quota_storage, 0, "BLOCK_STORAGE"),
                quota("volumes", "Volumes", None, tenancy.quota_volumes, 0, "BLOCK_STORAGE"),
            ]
        )

    # ------------------------------------------------------------ images, sizes

    async def _images(self, request: Request, tenant: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        return JSONResponse([links.image(i) for i in self.settings.images])

    async def _image(self, request: Request, tenant: str, image: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        for candidate in self.settings.images:
            if candidate.id == image:
                return JSONResponse(links.image(candidate))
        raise _detail(404, f"Could not find image with ID {image}.")

    def _find_size(self, size_id: str) -> Size | None:
        return next((s for s in self.settings.sizes if s.id == size_id), None)

    async def _sizes(self, request: Request, tenant: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        return JSONResponse([links.size(s) for s in self.settings.sizes])

    async def _size(self, request: Request, tenant: str, size: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        found = self._find_size(size)
        if found is None:
            raise _detail(404, f"Flavor {size} could not be found.")
        return JSONResponse(links.size(found))

    # ------------------------------------------------------------ machines

    async def _machines(self, request: Request, tenant: str) -> Response:
        session, tenancy, links = self._scoped(request, tenant)
        if request.method == "GET":
            return JSONResponse([links.machine(m) for m in list(tenancy.machines.values())])
        data = await self._json_body(request)
        errors: dict[str, list[str]] = {}
        for key, pattern in (
            ("name", _MACHINE_NAME),
            ("image_id", _SERIALIZER_ID),
            ("size_id", _SERIALIZER_ID),
        ):
            value = data.get(key)
            if value is None:
                errors[key] = [_REQUIRED]
            elif not isinstance(value, str) or not pattern.match(value):
                errors[key] = [_PATTERN]
        userdata = data.get("userdata")
        if userdata is not None and not isinstance(userdata, str):
            errors["userdata"] = ["Not a valid string."]
        if errors:
            raise _Problem(400, errors)
        if not any(i.id == data["image_id"] for i in self.settings.images):
            raise _detail(400, "Invalid image provided.", "bad_input")
        size = self._find_size(data["size_id"])
        if size is None:
            raise _detail(400, f"Flavor {data['size_id']} could not be found.", "bad_input")
        if not self._fits(tenancy, size, 1):
            raise _detail(409, _QUOTA, "quota_exceeded")
        self._ips += 1
        machine = EmulatedMachine(
            id=str(uuid.uuid4()),
            name=data["name"],
            image_id=data["image_id"],
            size=size,
            owner=session.user_id,
            userdata=userdata,
            internal_ip=f"192.168.{self._ips // 250 % 250}.{self._ips % 250 + 2}",
        )
        tenancy.machines[machine.id] = machine
        self._spawn(machine.tasks, self._boot(machine))
        return JSONResponse(links.machine(machine), status_code=201)

    async def _boot(self, machine: EmulatedMachine) -> None:
        await asyncio.sleep(self.settings.boot_delay)
        if machine.task == "Deleting":
            return
        machine.status, machine.power_state, machine.task = "ACTIVE", "Running", None
        machine.console.append(f"[    0.000000] Linux version 6.1.0 ({machine.name})")
        await run_guest(machine)

    def _machine_of(self, tenancy: Tenancy, machine: str) -> EmulatedMachine:
        found = tenancy.machines.get(machine)
        if found is None:
            raise _detail(404, f"Could not find machine with ID {machine}.")
        return found

    async def _machine(self, request: Request, tenant: str, machine: str) -> Response:
        _, tenancy, links = self._scoped(request, tenant)
        found = self._machine_of(tenancy, machine)
        if request.method == "DELETE" and found.task != "Deleting":
            found.task = "Deleting"
            kill_guest(found)
            found.tasks.clear()
            self._spawn(found.tasks, self._reap(tenancy.machines, found.id))
        return JSONResponse(links.machine(found))

    async def _reap(self, where: dict[str, Any], ident: str) -> None:
        await asyncio.sleep(self.settings.terminate_delay)
        where.pop(ident, None)

    async def _machine_logs(self, request: Request, tenant: str, machine: str) -> Response:
        _, tenancy, _ = self._scoped(request, tenant)
        return JSONResponse({"logs": list(self._machine_of(tenancy, machine).console)})

    # ------------------------------------------------------------ kubernetes apps

    async def _app_templates(self, request: Request, tenant: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        return JSONResponse([links.app_template(t) for t in self.settings.app_templates])

    async def _app_template(self, request: Request, tenant: str, template: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        for candidate in self.settings.app_templates:
            if candidate.id == template:
                return JSONResponse(links.app_template(candidate))
        raise _detail(404, f"Kubernetes app template '{template}' not found")

    async def _apps(self, request: Request, tenant: str) -> Response:
        session, tenancy, links = self._scoped(request, tenant)
        if request.method == "GET":
            return JSONResponse([links.app(a) for a in list(tenancy.apps.values())])
        data = await self._json_body(request)
        errors: dict[str, Any] = {}
        name, template_id = data.get("name"), data.get("template")
        if name is None:
            errors["name"] = [_REQUIRED]
        elif not isinstance(name, str) or not _APP_NAME.match(name):
            errors["name"] = [_PATTERN]
        template = None
        if template_id is None:
            errors["template"] = [_REQUIRED]
        elif not isinstance(template_id, str) or not _TEMPLATE.match(template_id):
            errors["template"] = [_PATTERN]
        else:
            template = next((t for t in self.settings.app_templates if t.id == template_id), None)
            if template is None:
                errors["template"] = [f"Kubernetes app template '{template_id}' not found"]
        if "values" not in data:
            errors["values"] = [_REQUIRED]
        elif not isinstance(data["values"] or {}, dict):
            errors["values"] = {"/": "is not of type 'object'"}
        if errors:
            raise _Problem(400, errors)
        assert template is not None and isinstance(name, str)
        if name in tenancy.apps:
            raise _detail(
                409, f'apps.apps.azimuth-cloud.io "{name}" already exists', "invalid_operation"
            )
        app = EmulatedApp(
            id=name,
            template=template,
            version=template.versions[0],
            values=dict(data["values"] or {}),
            username=session.username,
            user_id=session.user_id,
            kubernetes_cluster=data.get("kubernetes_cluster") or None,
        )
        tenancy.apps[name] = app
        self._spawn(app.tasks, self._install(app))
        return JSONResponse(links.app(app))

    async def _install(self, app: EmulatedApp) -> None:
        await asyncio.sleep(self.settings.start_delay)
        app.status = "Installing"
        await asyncio.sleep(self.settings.start_delay)
        app.fqdn = f"{secrets.token_hex(10)}.apps.azimuth.emulated"
        app.status = "Deployed"

    def _app_of(self, tenancy: Tenancy, app: str) -> EmulatedApp:
        found = tenancy.apps.get(app)
        if found is None:
            raise _detail(404, f'Kubernetes app "{app}" not found')
        return found

    async def _app(self, request: Request, tenant: str, app: str) -> Response:
        _, tenancy, links = self._scoped(request, tenant)
        found = self._app_of(tenancy, app)
        if request.method == "DELETE" and found.status != "Uninstalling":
            for task in found.tasks:
                task.cancel()
            found.status = "Uninstalling"
            self._spawn(found.tasks, self._reap(tenancy.apps, found.id))
        return JSONResponse(links.app(found))

    async def _app_service(self, request: Request, tenant: str, app: str, service: str) -> Response:
        def lookup(tenancy: Tenancy) -> tuple[str | None, str, bool]:
            found = tenancy.apps.get(app)
            if found is None or found.template.service != service:
                return None, service, False
            label = found.template.service_label
            return found.fqdn, label, found.status == "Deployed"

        return self._service(request, tenant, "kubernetes_app", lookup)

    def _service(
        self,
        request: Request,
        tenant: str,
        kind: str,
        lookup: Callable[[Tenancy], tuple[str | None, str, bool]],
    ) -> Response:
        """``redirect_to_signin`` + ``redirect_to_zenith_service`` of azimuth/views.py."""
        try:
            _, tenancy, _ = self._scoped(request, tenant)
        except _Problem as problem:
            if problem.status == 401:
                login = f"/auth/login/?next={quote(request.url.path)}"
                return RedirectResponse(login, status_code=302)
            raise
        fqdn, label, ready = lookup(tenancy)
        if fqdn is None:
            return HTMLResponse(f"<html><body><h1>{label} is not available</h1></body></html>")
        if not ready:
            return HTMLResponse(
                f"<html><body><h1>{label} is not ready</h1><p>{kind}</p></body></html>"
            )
        return RedirectResponse(f"{self._base(request)}/_zenith/{fqdn}/", status_code=302)

    async def _zenith(self, request: Request, fqdn: str, rest: str) -> Response:
        """The Zenith endpoint of a service (really ``https://<fqdn>/``)."""
        for tenancy in list(self.tenancies.values()):
            for app in list(tenancy.apps.values()):
                if app.fqdn == fqdn and app.status == "Deployed":
                    return HTMLResponse(
                        f"<html><head><title>{app.template.service_label}</title></head>"
                        f"<body>{app.template.label} {app.id} is running</body></html>"
                    )
            for cluster in list(tenancy.clusters.values()):
                if fqdn in cluster.fqdns.values() and cluster.status == "READY":
                    label = cluster.cluster_type.label
                    return HTMLResponse(
                        f"<html><head><title>{label}</title></head>"
                        f"<body>{label} {cluster.name} is running</body></html>"
                    )
        return PlainTextResponse("Zenith: no such service", status_code=404)

    # ------------------------------------------------------------ CaaS clusters

    def _find_cluster_type(self, name: str) -> ClusterType | None:
        return next((c for c in self.settings.cluster_types if c.name == name), None)

    async def _cluster_types(self, request: Request, tenant: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        return JSONResponse([links.cluster_type(c) for c in self.settings.cluster_types])

    async def _cluster_type(self, request: Request, tenant: str, cluster_type: str) -> Response:
        _, _, links = self._scoped(request, tenant)
        found = self._find_cluster_type(cluster_type)
        if found is None:
            raise _detail(404, f"Could not find cluster type '{cluster_type}'.")
        return JSONResponse(links.cluster_type(found))

    def _check_params(self, ct: ClusterType, values: Any) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise _Problem(400, {"parameter_values": ["Must be an object."]})
        errors: dict[str, list[str]] = {}
        out: dict[str, Any] = {}
        for param in ct.parameters:
            name = param["name"]
            if name not in values:
                if param.get("required", True) and param.get("default") is None:
                    errors[name] = [_REQUIRED]
                else:
                    out[name] = param.get("default")
                continue
            value = values[name]
            if param["kind"] == "cloud.size" and self._find_size(str(value)) is None:
                errors[name] = ["Size does not exist."]
            elif param["kind"] == "integer" and not isinstance(value, int):
                errors[name] = ["Must be an integer."]
            out[name] = value
        if errors:
            raise _Problem(400, {"parameter_values": errors})
        return out

    def _check_schedule(self, data: dict[str, Any]) -> datetime | None:
        schedule = data.get("schedule")
        if not self.settings.scheduling:
            if schedule:
                raise _Problem(400, {"schedule": ["Scheduling is not supported."]})
            return None
        if not schedule:
            raise _Problem(400, {"schedule": [_REQUIRED]})
        raw = schedule.get("end_time") if isinstance(schedule, dict) else None
        try:
            end = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise _Problem(
                400, {"schedule": {"end_time": ["Datetime has wrong format."]}}
            ) from None
        if end.tzinfo is None:
            end = end.replace(tzinfo=now().tzinfo)
        if end <= now():
            raise _Problem(400, {"schedule": {"end_time": ["End time cannot be in the past."]}})
        limit = self.settings.max_platform_duration_hours
        if limit is not None and end - now() > timedelta(hours=limit):
            raise _Problem(409, {"detail": f"Platform exceeds max duration of {limit} hours."})
        return end

    async def _clusters(self, request: Request, tenant: str) -> Response:
        session, tenancy, links = self._scoped(request, tenant)
        if request.method == "GET":
            return JSONResponse([links.cluster(c) for c in list(tenancy.clusters.values())])
        data = await self._json_body(request)
        errors: dict[str, list[str]] = {}
        name, type_name = data.get("name"), data.get("cluster_type")
        if name is None:
            errors["name"] = [_REQUIRED]
        elif not isinstance(name, str) or not _CLUSTER_NAME.match(name):
            errors["name"] = [_PATTERN]
        ct = None
        if type_name is None:
            errors["cluster_type"] = [_REQUIRED]
        else:
            ct = self._find_cluster_type(str(type_name))
            if ct is None:
                errors["cluster_type"] = [f"Could not find cluster type '{type_name}'."]
        if "parameter_values" not in data:
            errors["parameter_values"] = [_REQUIRED]
        if errors:
            raise _Problem(400, errors)
        assert ct is not None and isinstance(name, str)
        values = self._check_params(ct, data["parameter_values"])
        end = self._check_schedule(data)
        size = self._find_size(str(values.get(ct.size_parameter))) if ct.size_parameter else None
        if size is not None and not self._fits(tenancy, size, 0):
            raise _detail(409, "Cluster exceeds at least one quota.", "quota_exceeded")
        if any(c.name == name for c in tenancy.clusters.values()):
            raise _detail(409, f"A cluster called '{name}' already exists.", "invalid_operation")
        cluster = EmulatedCluster(
            id=str(uuid.uuid4()),
            name=name,
            cluster_type=ct,
            parameter_values=values,
            username=session.username,
            user_id=session.user_id,
            size=size,
            end_time=end,
        )
        tenancy.clusters[cluster.id] = cluster
        self._spawn(cluster.tasks, self._configure(tenancy, cluster))
        return JSONResponse(links.cluster(cluster))

    async def _configure(self, tenancy: Tenancy, cluster: EmulatedCluster) -> None:
        await asyncio.sleep(self.settings.start_delay * 2)
        cluster.fqdns = {
            name: f"{secrets.token_hex(10)}.apps.azimuth.emulated"
            for name, _ in cluster.cluster_type.services
        }
        cluster.status, cluster.task = "READY", None
        if cluster.end_time is not None:  # azimuth-schedule-operator: delete at end_time
            await asyncio.sleep(max(0.0, (cluster.end_time - now()).total_seconds()))
            cluster.status, cluster.task = "DELETING", "Deleting cluster"
            await self._reap(tenancy.clusters, cluster.id)

    async def _cluster(self, request: Request, tenant: str, cluster: str) -> Response:
        _, tenancy, links = self._scoped(request, tenant)
        found = tenancy.clusters.get(cluster)
        if found is None:
            raise _detail(404, f"Could not find cluster with ID {cluster}.")
        if request.method == "DELETE" and found.status != "DELETING":
            for task in found.tasks:
                task.cancel()
            found.status, found.task = "DELETING", "Deleting cluster"
            self._spawn(found.tasks, self._reap(tenancy.clusters, found.id))
        return JSONResponse(links.cluster(found))

    async def _cluster_service(
        self, request: Request, tenant: str, cluster: str, service: str
    ) -> Response:
        def lookup(tenancy: Tenancy) -> tuple[str | None, str, bool]:
            found = tenancy.clusters.get(cluster)
            labels = dict(found.cluster_type.services) if found else {}
            if found is None or service not in labels:
                return None, service, False
            return found.fqdns.get(service), labels[service], found.status == "READY"

        return self._service(request, tenant, "cluster", lookup)
