"""An emulator of the CANFAR skaha v1 sessions API, for tests and demos.

It follows skaha's own source, opencadc/science-platform at commit
``964c7c62481e354606837954d0b31b35b7218997`` (2026-08-06; ``skaha/src/main``:
``session/{Get,Post,Delete}Action``, ``SessionBuilder``, ``SessionType``,
``ResourceStats``, ``FlexResourceRequestConfiguration``, ``image/GetAction``,
``webapp/capabilities.xml``, ``helm/skaha-config/k8s-resources.json``):

* ``POST /v1/session`` (form or query parameters) answers the new id as
  ``text/plain``. ``type`` defaults to ``headless`` and is matched
  case-insensitively (``Invalid session type: x``); the image must start with
  a trusted registry host (``session image '...' must come from one of
  [...]``) but need not be listed, and its labels are not checked; an image
  that is not listed (not public) needs ``X-Skaha-Registry-Auth``
  (base64 ``user:secret``). ``cores``/``ram`` may be fractional (the integer
  part must be an option); without them the session is *flexible*
  (``isFixedResources: false``, no ``requestedRAM``/``requestedCPUCores``;
  requests from ``defaultRequest`` or the per-type flex settings, limits from
  ``defaultLimit``). Validation order and texts are skaha's (``Invalid value
  for 'cores': x``, ``Missing parameter 'name'``, the name pattern, the
  maximum of interactive sessions, ``Invalid value for 'gpus': x``).
* ``GET /v1/session``: ``type``/``status`` filters case-insensitive,
  ``desktop-app`` entries only when asked for by type, ``view=all`` (public
  fields of every user), ``view=interactive`` (no headless), ``view=stats``
  (``ResourceStats``: ``cores`` and ``ram`` with ``maxCPUCores``/``maxRAM``).
* Statuses: ``Pending`` (until the pod is ready), ``Running``, ``Completed``
  or ``Failed`` (``DeadlineExceeded`` at the expiry time), ``Terminating``
  while a delete is in progress.
* ``GET /v1/session/{id}`` (404 ``session x not found``), ``view=logs``
  (empty for an unknown id, as ``kubectl logs -l`` is), ``view=events``
  (kubectl's padded custom columns, ``<none>`` when there are no events);
  ``POST ...?action=renew`` (400 ``No active job for user ... with session
  ...`` unless Pending/Running); ``DELETE`` (always 200, also removes the
  session's desktop-apps).
* Desktop applications: ``POST|GET /v1/session/{id}/app`` and
  ``GET|DELETE /v1/session/{id}/app/{appid}`` on a running desktop session.
  ``POST /v1/session`` with ``type=desktop-app`` fails with a 500 as skaha
  does at this commit (it looks for ``launch-desktop_app.yaml``).
* ``/capabilities`` (VOSI, skaha's document with this server's URLs),
  ``/availability``, ``/v1/context`` (``maxInteractiveSessions`` is a string,
  as the Helm template renders it), ``/v1/image`` (``unknown type: x``),
  ``/v1/repository``.
* Authentication: bearer tokens (``tokens``) and, on the optional TLS
  listener (:class:`EmulatorServer` with ``tls=``), X.509 client certificates
  verified against the test CA; the user is the certificate's CN (or
  ``certificate_users[CN]``). ``X-Skaha-Authentication-Type`` is recorded,
  not required (skaha ignores it). No credentials: 401.

Headless sessions **really run**: the image is ignored and ``cmd`` + ``args``
(split on single spaces, as skaha does) run as a local process with the
``env`` entries that split into exactly two parts on ``=`` (others are dropped
without a word, as skaha does), so logs and exit codes are real. Interactive
sessions become ``Running`` with a ``connectURL`` served by the emulator.

Tests steer it through :class:`SkahaEmulator` (``faults``, ``hold``,
``release``, ``expire``, ``calls``, ``auth_types``); demos through
``POST /_emulator/faults``. Run it with
``python -m ivoa_broker_canfar.emulator --port 8765 [--tls-dir DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import os
import random
import re
import shutil
import signal
import ssl
import string
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ivoa_broker.testing.serving import QUIET, ServerThread
from ivoa_broker.toolkit.faults import Fault, Faults, injected
from ivoa_broker_canfar._emulator_sessions import (
    GIB,
    EmulatedSession,
    digest,
    java_split,
)
from ivoa_broker_canfar.testpki import TestPKI, make_test_pki

__all__ = [
    "SKAHA_COMMIT",
    "EmulatorServer",
    "EmulatorSettings",
    "Faults",
    "SkahaEmulator",
    "main",
]

#: the opencadc/science-platform commit this emulator follows
SKAHA_COMMIT = "964c7c62481e354606837954d0b31b35b7218997"

INTERACTIVE = ("notebook", "desktop", "carta", "contributed", "firefly")
#: ``SkahaAction.SESSION_TYPES`` (what ``/v1/image?type=`` accepts)
SESSION_TYPES = (
    "carta",
    "notebook",
    "desktop",
    "contributed",
    "headless",
    "firefly",
    "desktop-app",
)
_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_REGISTRY_AUTH = "x-skaha-registry-auth"

DEFAULT_IMAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("images.canfar.net/skaha/base-notebook:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/astroml:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/astroml-cuda:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/terminal:1.1.2", ("headless",)),
    ("images.canfar.net/skaha/desktop:latest", ("desktop",)),
    ("images.canfar.net/skaha/xterm:1.0", ("desktop-app",)),
    ("images.canfar.net/skaha/carta:4.1", ("carta",)),
    ("images.canfar.net/skaha/firefly:2024.3", ("firefly",)),
    ("images.canfar.net/contrib/pluto:0.19", ("contributed",)),
)

_CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities
    xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">

  <capability standardID="ivo://ivoa.net/std/VOSI#capabilities">
    <interface xsi:type="vs:ParamHTTP" role="std">
      <accessURL use="full">{base}/capabilities</accessURL>
    </interface>
  </capability>

  <capability standardID="ivo://ivoa.net/std/VOSI#availability">
    <interface xsi:type="vs:ParamHTTP" role="std">
      <accessURL use="full">{base}/availability</accessURL>
    </interface>
  </capability>

  <capability standardID="vos://cadc.nrc.ca~vospace/CADC/std/Logging#control-1.0">
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.0">
      <accessURL use="full">{base}/logControl</accessURL>
    </interface>
  </capability>
{platform}
</vosi:capabilities>
"""

_PLATFORM = """
  <capability standardID="{standard}">
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.0">
        <accessURL use="base">{url}</accessURL>
      <securityMethod standardID="ivo://ivoa.net/sso#cookie"/>
    </interface>
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.0">
        <accessURL use="base">{url}</accessURL>
      <securityMethod standardID="ivo://ivoa.net/sso#tls-with-certificate"/>
    </interface>
    <interface xsi:type="vs:ParamHTTP" role="std" version="1.0">
        <accessURL use="base">{url}</accessURL>
      <securityMethod standardID="ivo://ivoa.net/sso#token"/>
    </interface>
  </capability>
"""


def _fault_status(fault: Fault) -> Response:
    """skaha's error answers are plain text."""
    text = fault.body if fault.body is not None else f"emulated {fault.status}"
    return PlainTextResponse(text + "\n", fault.status)


@dataclass(frozen=True)
class EmulatorSettings:
    """What the emulated site offers (defaults shaped like skaha's Helm chart).

    ``tokens`` maps bearer tokens to user ids; ``certificate_users`` maps a
    client certificate's CN to a user id (default: the CN itself).
    ``flex`` is skaha's ``SKAHA_FLEX_RESOURCE_REQUEST_<TYPE>_CPU/_MEMORY``:
    session type -> (cores, GiB) requested for flexible sessions (``None``:
    ``defaultRequest``).
    """

    tokens: Mapping[str, str] = field(default_factory=lambda: {"demo-token": "demo"})
    certificate_users: Mapping[str, str] = field(default_factory=dict)
    cores: tuple[int, ...] = (1, 2, 4, 8, 16)
    default_cores: int = 2
    default_request_cores: int = 1
    default_limit_cores: int = 8
    memory_gb: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    default_ram: int = 8
    default_request_ram: int = 4
    default_limit_ram: int = 32
    gpus: tuple[int, ...] = (1, 2, 4)
    flex: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    images: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_IMAGES
    registries: tuple[str, ...] = ("images.canfar.net",)
    max_interactive_sessions: int = 3
    session_expiry_seconds: int = 4 * 24 * 3600
    #: the cluster's size, for ``view=stats``
    cluster_cores: float = 64.0
    cluster_ram_gb: float = 256.0
    experimental_features: str = ""
    home_base: str = "/arc/home"
    #: how long a new session stays Pending (seconds)
    start_delay: float = 0.05
    #: how long a deleted session stays listed as Terminating (seconds)
    terminate_delay: float = 0.05
    #: the final status of a successful session (skaha's ``Session.STATUS_COMPLETED``)
    completed_status: str = "Completed"


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> _Refusal:
    return _Refusal(400, message)


Handler = Callable[[Request, str], Awaitable[Response]]

# ------------------------------------------------------------------ TLS peers

#: remote address -> the verified client certificate of that TLS connection
_PEERS: dict[tuple[str, int], dict[str, Any]] = {}


class _PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol, remembering each TLS connection's client certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        if cert and self.client is not None:
            _PEERS[self.client] = cert

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            _PEERS.pop(self.client, None)
        super().connection_lost(exc)


def _common_name(cert: Mapping[str, Any]) -> str | None:
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


# ------------------------------------------------------------------ emulator


class SkahaEmulator:
    """The emulated skaha service. ``app`` is the Starlette application."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.faults = Faults()
        #: ``(method, path?query)`` of every call under /skaha, in order
        self.calls: list[tuple[str, str]] = []
        #: ``(path, X-Skaha-Authentication-Type or None, "token"|"x509"|"anon")`` per call
        self.auth_types: list[tuple[str, str | None, str]] = []
        #: when true, new sessions stay Pending until :meth:`release`
        self.hold = False
        #: by key: the session id, ``{id}/{appid}`` for desktop-apps
        self.sessions: dict[str, EmulatedSession] = {}
        self.tokens: dict[str, str] = dict(self.settings.tokens)
        self._public = dict(self.settings.images)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    # ---------------------------------------------------------- test controls

    def add_user(self, token: str, userid: str) -> None:
        """Accept ``token`` as a bearer token for ``userid`` from now on."""
        self.tokens[token] = userid

    def native_ids(self, userid: str | None = None) -> set[str]:
        """Ids of the sessions (not desktop-apps) that exist and are not being deleted."""
        return {
            s.id
            for s in list(self.sessions.values())
            if userid in (None, s.userid) and s.status != "Terminating" and s.appid is None
        }

    def release(self, session_id: str | None = None) -> None:
        """Let a held session (or all of them) start."""
        for session in list(self.sessions.values()):
            if session_id in (None, session.id):
                self._call(session.released.set)

    def expire(self, session_id: str) -> None:
        """Move a session's expiry time to now (it fails with DeadlineExceeded)."""
        self.sessions[session_id].expiry = datetime.now(UTC) - timedelta(seconds=1)

    def remove(self, session_id: str) -> None:
        """Make a session vanish at once (as if Kubernetes had purged it)."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self._call(lambda: self._dispose(session))

    def calls_to(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.split("?")[0] == path)

    def _call(self, fn: Callable[[], object]) -> None:
        if self._loop is None:
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    # ------------------------------------------------------------------- app

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            self.hold = False
            for session in list(self.sessions.values()):
                self._dispose(session)
            tasks = [t for s in self.sessions.values() for t in s.tasks if not t.done()]
            if tasks:
                await asyncio.wait(tasks, timeout=10)
            self.sessions.clear()

    def _routes(self) -> list[Route]:
        g = self._guarded
        return [
            Route("/skaha/availability", self._availability),
            Route("/skaha/capabilities", self._capabilities, methods=["GET", "HEAD"]),
            Route("/skaha/v1/session", g(self._sessions), methods=["GET", "POST", "DELETE"]),
            Route("/skaha/v1/session/{id}", g(self._session), methods=["GET", "POST", "DELETE"]),
            Route("/skaha/v1/session/{id}/app", g(self._apps), methods=["GET", "POST", "DELETE"]),
            Route(
                "/skaha/v1/session/{id}/app/{appid}",
                g(self._app),
                methods=["GET", "POST", "DELETE"],
            ),
            Route("/skaha/v1/context", g(self._context)),
            Route("/skaha/v1/image", g(self._images)),
            Route("/skaha/v1/repository", g(self._repository)),
            Route("/session/{type}/{id}/{rest:path}", self._connect),
            Route("/_emulator/faults", self._fault_api, methods=["POST", "DELETE"]),
        ]

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            path = request.url.path
            query = request.url.query
            self.calls.append((request.method, path + (f"?{query}" if query else "")))
            fault = self.faults.take(request.method, path)
            if fault is not None:
                answer = await injected(fault, request, _fault_status)
                if answer is not None:
                    return answer
            user, method = self._user(request)
            self.auth_types.append(
                (path, request.headers.get("x-skaha-authentication-type"), method)
            )
            if user is None:
                return PlainTextResponse("Unauthorized\n", 401)
            try:
                return await handler(request, user)
            except _Refusal as refusal:
                return PlainTextResponse(refusal.message + "\n", refusal.status)

        return endpoint

    def _user(self, request: Request) -> tuple[str | None, str]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.get(token.strip()), "token"
        client = request.scope.get("client")
        cert = _PEERS.get((client[0], client[1])) if client else None
        if cert is not None:
            cn = _common_name(cert)
            if cn is not None:
                return self.settings.certificate_users.get(cn, cn), "x509"
        return None, "anon"

    @staticmethod
    def _base(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def _availability(self, request: Request) -> Response:
        note = (
            "Skaha Service Available.\n\nEnabled Experimental Features:\n "
            + self.settings.experimental_features
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
            "  <vosi:available>true</vosi:available>\n"
            f"  <vosi:note>{note}</vosi:note>\n"
            "</vosi:availability>\n"
        )
        return Response(body, media_type="text/xml")

    async def _capabilities(self, request: Request) -> Response:
        base = self._base(request) + "/skaha"
        platform = "".join(
            _PLATFORM.format(standard=standard, url=f"{base}/{path}")
            for standard, path in (
                ("vos://cadc.nrc.ca~vospace/CADC/std/Proc#sessions-1.0", "v0"),
                ("http://www.opencadc.org/std/platform#session-1", "v1/session"),
                ("http://www.opencadc.org/std/platform#context-1", "v1/context"),
                ("http://www.opencadc.org/std/platform#image-1", "v1/image"),
                ("http://www.opencadc.org/std/platform#repository-1", "v1/repository"),
            )
        )
        body = _CAPABILITIES.format(base=base, platform=platform)
        return Response(body if request.method == "GET" else b"", media_type="text/xml")

    async def _fault_api(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return PlainTextResponse("cleared\n")
        spec = await request.json()
        kind = spec.get("kind", "status")
        where = {
            "count": int(spec.get("count", 1)),
            "method": spec.get("method"),
            "path": spec.get("path"),
        }
        if kind == "status":
            self.faults.fail_next(int(spec.get("status", 500)), **where)
        elif kind == "garbage":
            self.faults.garbage_next(**where)
        elif kind == "slow":
            self.faults.slow_next(float(spec.get("seconds", 1.0)), **where)
        elif kind == "drop":
            self.faults.drop_next(**where)
        else:
            return PlainTextResponse(f"unknown fault kind {kind!r}\n", 400)
        return PlainTextResponse("ok\n")

    async def _connect(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        if session is None or session.status != "Running":
            return PlainTextResponse("no such session\n", 404)
        return HTMLResponse(
            f"<html><body><h1>emulated {session.type} session {session.id}</h1></body></html>"
        )

    # ------------------------------------------------------ catalog routes

    async def _context(self, request: Request, user: str) -> Response:
        s = self.settings
        return JSONResponse(
            {
                "cores": {
                    "default": s.default_cores,
                    "defaultRequest": s.default_request_cores,
                    "defaultLimit": s.default_limit_cores,
                    "options": list(s.cores),
                },
                "memoryGB": {
                    "default": s.default_ram,
                    "defaultRequest": s.default_request_ram,
                    "defaultLimit": s.default_limit_ram,
                    "options": list(s.memory_gb),
                },
                "gpus": {"options": list(s.gpus)},
                # the Helm template quotes it: "{{ int .Values...maxCount }}"
                "maxInteractiveSessions": str(s.max_interactive_sessions),
            }
        )

    async def _images(self, request: Request, user: str) -> Response:
        wanted = request.query_params.get("type")
        if wanted is not None and wanted not in SESSION_TYPES:
            raise _bad(f"unknown type: {wanted}")
        return JSONResponse(
            [
                {"id": ident, "types": list(types), "digest": digest(ident)}
                for ident, types in self.settings.images
                if wanted is None or wanted in types
            ]
        )

    async def _repository(self, request: Request, user: str) -> Response:
        return JSONResponse(list(self.settings.registries))

    # ------------------------------------------------------ session routes

    def _mine(self, user: str | None) -> list[EmulatedSession]:
        self._expire_due()
        return [s for s in list(self.sessions.values()) if user in (None, s.userid)]

    async def _sessions(self, request: Request, user: str) -> Response:
        if request.method == "POST":
            return await self._create(request, user)
        if request.method == "DELETE":
            raise _bad("Cannot kill all sessions.")
        params = request.query_params
        view = params.get("view")
        if view == "stats":
            return JSONResponse(self._stats())
        status = params.get("status")
        if view is not None and view.lower() == "interactive":
            found = [s for s in self._mine(user) if s.type != "headless"]
            return JSONResponse([s.to_json() for s in _filter(found, None, status)])
        everyone = view == "all"
        kind = params.get("type")
        found = _filter(self._mine(None if everyone else user), kind, status)
        if (kind or "").lower() != "desktop-app":
            found = [s for s in found if s.type != "desktop-app"]
        return JSONResponse([s.public_json() if everyone else s.to_json() for s in found])

    def _stats(self) -> dict[str, Any]:
        s = self.settings
        busy = [x for x in self._mine(None) if x.status in ("Pending", "Running")]
        ram_bytes = sum(int(x.request_ram * GIB) for x in busy)
        max_ram = f"{_decimal(float(s.default_limit_ram))}Gi"
        return {
            "cores": {
                "requestedCPUCores": float(sum(x.request_cores for x in busy)),
                "cpuCoresAvailable": float(s.cluster_cores),
                "maxCPUCores": {"cpuCores": float(s.default_limit_cores), "withRam": max_ram},
            },
            "ram": {
                "requestedRAM": f"{_decimal(ram_bytes / 1e9)}G",
                "ramAvailable": f"{_decimal(s.cluster_ram_gb)}G",
                "maxRAM": {"ram": max_ram, "withCPUCores": float(s.default_limit_cores)},
            },
        }

    async def _params(self, request: Request) -> dict[str, list[str]]:
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        if request.method == "POST":
            form = await request.form()
            for key, item in form.multi_items():
                params.setdefault(key, []).append(str(item))
        return params

    def _resources(self, first: Mapping[str, str], stype: str) -> tuple[float, float, float, float]:
        """skaha's ``ResourceSpecification``: (request, limit) cores and GiB."""
        s = self.settings
        flex_cpu, flex_ram = self.settings.flex.get(stype.lower(), (None, None))

        def asked(key: str, options: Sequence[int]) -> float | None:
            raw = first.get(key, "")
            if not raw.strip():
                return None
            try:
                value = float(raw)
                if int(value) not in options:
                    raise ValueError(raw)
            except (ValueError, OverflowError):
                raise _bad(f"Invalid value for '{key}': {raw}") from None
            return value

        cores = asked("cores", s.cores)
        ram = asked("ram", s.memory_gb)
        request_cores = cores if cores is not None else flex_cpu or s.default_request_cores
        limit_cores = cores if cores is not None else s.default_limit_cores
        request_ram = ram if ram is not None else flex_ram or s.default_request_ram
        limit_ram = ram if ram is not None else s.default_limit_ram
        return float(request_cores), float(limit_cores), float(request_ram), float(limit_ram)

    def _session_type(self, image: str, raw: str | None) -> str:
        """skaha's ``validateImage``: a trusted registry host and a known type."""
        if not image.strip():
            raise _bad("image is required")
        if not any(image.startswith(host) for host in self.settings.registries):
            hosts = ", ".join(self.settings.registries)
            raise _bad(f"session image '{image}' must come from one of [{hosts}]")
        wanted = (raw or "").strip().lower()
        if wanted not in SESSION_TYPES:
            raise _bad(f"Invalid session type: {raw}")
        return wanted

    def _check_registry_auth(self, request: Request, image: str) -> None:
        if image in self._public:
            return
        value = request.headers.get(_REGISTRY_AUTH, "")
        if not value.strip():
            raise _bad(
                "No authentication provided for unknown or private image.  Use "
                f"{_REGISTRY_AUTH} request header with base64Encode(username:secret)."
            )
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if len(java_split(decoded, ":")) != 2:
            raise _bad("Invalid input.  Must be in form of username:secret")

    async def _create(self, request: Request, user: str) -> Response:
        s = self.settings
        params = await self._params(request)
        first = {k: v[0] for k, v in params.items()}
        image = first.get("image")
        if image is None:
            raise _bad("Missing parameter 'image'")
        raw_type = first.get("type") or ""
        asked_type = raw_type if raw_type.strip() else "headless"
        stype = self._session_type(image, asked_type)
        request_cores, limit_cores, request_ram, limit_ram = self._resources(first, asked_type)
        name = first.get("name", "")
        if not name.strip():
            raise _bad("Missing parameter 'name'")
        if not _NAME.match(name):
            raise _bad("name can only contain alpha-numeric chars and '-'")
        if stype != "headless":
            active = [
                x
                for x in self._mine(user)
                if x.type not in ("headless", "desktop-app")
                and x.status.lower() in ("running", "pending")
            ]
            if len(active) >= s.max_interactive_sessions:
                raise _bad(
                    f"User {user} has reached the maximum of {s.max_interactive_sessions} "
                    "active sessions."
                )
        gpus = 0
        raw_gpus = first.get("gpus", "")
        if raw_gpus.strip():
            try:
                gpus = int(raw_gpus)
                if gpus not in s.gpus:
                    raise ValueError(raw_gpus)
            except ValueError:
                raise _bad(f"Invalid value for 'gpus': {raw_gpus}") from None
        if stype == "desktop-app":
            # SessionType.DESKTOP_APP.getJobConfigPath(): name().toLowerCase()
            raise _Refusal(500, "/opt/skaha/config/launch-desktop_app.yaml")
        self._check_registry_auth(request, image)
        env: dict[str, str] = {}
        for entry in params.get("env", []):
            parts = java_split(entry, "=")
            if len(parts) == 2:  # skaha drops anything else without a word
                env[parts[0]] = parts[1]
        now = datetime.now(UTC)
        session = EmulatedSession(
            id=self._new_id(8),
            userid=user,
            name=name.lower(),
            type=stype,
            image=image,
            request_cores=request_cores,
            limit_cores=limit_cores,
            request_ram=request_ram,
            limit_ram=limit_ram,
            gpus=gpus,
            cmd=first.get("cmd"),
            args=first.get("args"),
            env=env,
            created=now,
            expiry=now + timedelta(seconds=s.session_expiry_seconds),
        )
        session.connect_url = self._connect_url(session, self._base(request))
        self._launch(session)
        return PlainTextResponse(session.id + "\n")

    def _launch(self, session: EmulatedSession) -> None:
        self.sessions[session.key] = session
        runner = (
            self._run_headless(session)
            if session.type == "headless"
            else self._run_interactive(session)
        )
        session.tasks.append(asyncio.create_task(runner))

    def _connect_url(self, session: EmulatedSession, base: str) -> str:
        ident = session.id
        home = "/".join(p for p in self.settings.home_base.split("/") if p)
        return {
            "desktop": f"{base}/session/desktop/{ident}/?password={ident}"
            f"&path=session/desktop/{ident}/",
            "carta": f"{base}/session/carta/{ident}/",
            "notebook": f"{base}/session/notebook/{ident}/lab/tree/{home}/{session.userid}"
            f"?token={ident}",
            "contributed": f"{base}/session/contrib/{ident}/",
            "firefly": f"{base}/session/firefly/{ident}/firefly/",
        }.get(session.type, "")

    def _new_id(self, length: int) -> str:
        alphabet = string.ascii_lowercase + string.digits
        taken = {s.id for s in self.sessions.values()} | {
            s.appid for s in self.sessions.values() if s.appid
        }
        while True:
            ident = "".join(random.choices(alphabet, k=length))
            if ident not in taken:
                return ident

    def _own(self, request: Request, user: str) -> EmulatedSession:
        ident = request.path_params["id"]
        self._expire_due()
        session = self.sessions.get(ident)
        if session is None or session.userid != user:
            raise _Refusal(404, f"session {ident} not found")
        return session

    async def _session(self, request: Request, user: str) -> Response:
        ident = request.path_params["id"]
        if request.method == "DELETE":
            for session in self._mine(user):
                if session.id == ident:  # its desktop-apps go with it (owner references)
                    self._delete(session)
            return Response(status_code=200)
        if request.method == "POST":
            return await self._modify(request, user, ident)
        view = request.query_params.get("view")
        if view == "logs":
            found = [x for x in self._mine(user) if x.id == ident and x.appid is None]
            text = found[0].log.decode(errors="replace") if found else ""
            return PlainTextResponse(text)
        session = self._own(request, user)
        if view == "events":
            if session.status == "Terminating":
                raise _Refusal(404, f"session {ident} not found.")
            return PlainTextResponse(session.events_text())
        return JSONResponse(session.to_json())

    async def _modify(self, request: Request, user: str, ident: str) -> Response:
        action = (await self._params(request)).get("action", [""])[0]
        if not action:
            raise _bad("Cannot modify an existing session")
        if action.lower() != "renew":
            raise _bad("unrecognized action")
        active = [
            x for x in self._mine(user) if x.id == ident and x.status in ("Pending", "Running")
        ]
        if not active:
            raise _bad(f"No active job for user {user} with session {ident}")
        expiry = datetime.now(UTC) + timedelta(seconds=self.settings.session_expiry_seconds)
        for session in active:
            session.expiry = max(session.expiry, expiry)
        return Response(status_code=200)

    # ------------------------------------------------------ desktop-apps

    async def _apps(self, request: Request, user: str) -> Response:
        ident = request.path_params["id"]
        if request.method == "DELETE":
            raise _bad("Missing app ID")
        if request.method == "GET":
            status = request.query_params.get("status")
            everyone = request.query_params.get("view") == "all"
            found = _filter(self._mine(None if everyone else user), "desktop-app", status)
            return JSONResponse([s.public_json() if everyone else s.to_json() for s in found])
        params = await self._params(request)
        first = {k: v[0] for k, v in params.items()}
        image = first.get("image")
        if image is None:
            raise _bad("Missing parameter 'image'")
        request_cores, limit_cores, request_ram, limit_ram = self._resources(first, "desktop-app")
        desktop = self.sessions.get(ident)
        if (
            desktop is None
            or desktop.userid != user
            or desktop.type != "desktop"
            or desktop.status != "Running"
        ):
            raise _Refusal(404, f"session {ident} not found")
        name = _image_name(image)
        app = EmulatedSession(
            id=ident,
            appid=self._new_id(3),
            userid=user,
            name=name,
            type="desktop-app",
            image=image,
            request_cores=request_cores,
            limit_cores=limit_cores,
            request_ram=request_ram,
            limit_ram=limit_ram,
            gpus=0,
            expiry=desktop.expiry,
        )
        self._launch(app)
        return PlainTextResponse(f"{app.appid}\n")

    async def _app(self, request: Request, user: str) -> Response:
        ident, appid = request.path_params["id"], request.path_params["appid"]
        if request.method == "POST":
            raise _bad("Cannot modify an existing app.")
        app = self.sessions.get(f"{ident}/{appid}")
        if request.method == "DELETE":
            if app is not None and app.userid == user:
                self._delete(app)
            return Response(status_code=200)
        self._expire_due()
        if app is None or app.userid != user:
            raise _Refusal(
                404, f"desktop app with session {ident} and app ID {appid} was not found"
            )
        return JSONResponse(app.to_json())

    # ------------------------------------------------------------ lifecycle

    async def _started(self, session: EmulatedSession) -> None:
        await asyncio.sleep(self.settings.start_delay)
        if self.hold:
            await session.released.wait()
        assigned = f"Successfully assigned skaha-workload/{session.pod} to node-1"
        session.event("Normal", "Scheduled", assigned)
        present = f'Container image "{session.image}" already present on machine'
        session.event("Normal", "Pulled", present)
        session.event("Normal", "Created", f"Created container {session.type}-{session.id}")

    async def _run_interactive(self, session: EmulatedSession) -> None:
        await self._started(session)
        if session.status != "Pending":
            return
        session.event("Normal", "Started", f"Started container {session.type}-{session.id}")
        session.status = "Running"

    async def _run_headless(self, session: EmulatedSession) -> None:
        await self._started(session)
        if session.status != "Pending":
            return
        argv = ([session.cmd] if session.cmd is not None else []) + (
            java_split(session.args, " ") if session.args is not None else []
        )
        if not argv:
            session.log.extend(b"(emulator: no cmd; the image entrypoint is not emulated)\n")
            self._finish(session, 0)
            return
        session.workdir = tempfile.mkdtemp(prefix=f"skaha-{session.id}-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": session.workdir,
            "PWD": session.workdir,
            **session.env,
        }
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=session.workdir,
                start_new_session=True,
            )
        except OSError as exc:
            session.event(
                "Warning",
                "Failed",
                f'Error: failed to start container: exec: "{argv[0]}": {exc.strerror}',
            )
            self._finish(session, 128)
            return
        session.process = process
        session.event("Normal", "Started", f"Started container {session.type}-{session.id}")
        session.status = "Running"
        assert process.stdout is not None
        try:
            while chunk := await process.stdout.read(65536):
                session.log.extend(chunk)
            code = await process.wait()
        finally:
            shutil.rmtree(session.workdir, ignore_errors=True)
        if session.status == "Running":
            self._finish(session, code)

    def _finish(self, session: EmulatedSession, code: int) -> None:
        session.exit_code = code
        if code == 0:
            session.status = self.settings.completed_status
            session.event("Normal", "Completed", "Job completed")
        else:
            session.status = "Failed"
            session.event("Warning", "Failed", f"container exited with code {code}")
            session.event(
                "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )

    def _expire_due(self) -> None:
        now = datetime.now(UTC)
        for session in list(self.sessions.values()):
            if session.status in ("Pending", "Running") and now >= session.expiry:
                session.status = "Failed"
                session.event(
                    "Warning",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
                self._kill(session)

    def _delete(self, session: EmulatedSession) -> None:
        if session.status == "Terminating":
            return
        session.status = "Terminating"
        session.event("Normal", "Killing", f"Stopping container {session.type}-{session.id}")
        self._kill(session)
        session.tasks.append(asyncio.create_task(self._reap(session)))

    async def _reap(self, session: EmulatedSession) -> None:
        await asyncio.sleep(self.settings.terminate_delay)
        if session.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await session.process.wait()
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]
        self._dispose(session)

    @staticmethod
    def _kill(session: EmulatedSession) -> None:
        process = session.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def _dispose(self, session: EmulatedSession) -> None:
        """Stop whatever runs for ``session``; its tasks then end by themselves."""
        self._kill(session)
        session.released.set()


def _filter(
    sessions: Sequence[EmulatedSession], kind: str | None, status: str | None
) -> list[EmulatedSession]:
    """skaha's ``GetAction.filter``: both filters case-insensitive."""
    return [
        s
        for s in sessions
        if (kind is None or s.type.lower() == kind.lower())
        and (status is None or s.status.lower() == status.lower())
    ]


def _image_name(image: str) -> str:
    """``SessionAction.getImageName``: the last path segment, ``:._`` -> ``-``."""
    name = image[image.rfind("/") + 1 :]
    return re.sub(r"[:._]", "-", name).lower()


def _decimal(value: float) -> str:
    """Java ``DecimalFormat("#.###")``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


# ----------------------------------------------------------------------- server


class EmulatorServer:
    """Serves a :class:`SkahaEmulator` with uvicorn on loopback in a thread.

    ``url`` is the skaha base URL (``http://127.0.0.1:PORT/skaha``), the value
    of the adapter's ``url`` setting. With ``tls`` (a :class:`TestPKI`, see
    :func:`make_test_pki`) a second listener serves the same emulator over
    HTTPS at ``tls_url`` and asks for (does not require) a client certificate
    signed by the test CA. Ports 0 (the default) are chosen by the kernel.
    """

    def __init__(
        self,
        emulator: SkahaEmulator | None = None,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        tls: TestPKI | None = None,
        port: int = 0,
        tls_port: int = 0,
    ) -> None:
        self.emulator = emulator or SkahaEmulator()
        self.host = host
        self._ports = (port, tls_port)
        self.log_level = log_level
        self.tls = tls
        self._thread = ServerThread("skaha-emulator")

    def _port(self, index: int) -> int:
        socks = self._thread.sockets
        if len(socks) <= index:
            raise RuntimeError("the emulator is not started (or has no TLS listener)")
        return int(socks[index].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port(0)}/skaha"

    @property
    def tls_url(self) -> str:
        return f"https://{self.host}:{self._port(1)}/skaha"

    def start(self) -> str:
        common = {**QUIET, "log_level": self.log_level}
        plain = uvicorn.Server(uvicorn.Config(self.emulator.app, http="h11", **common))
        pairs = [(plain, self._thread.bind(self.host, self._ports[0]))]
        if self.tls is not None:
            secure = uvicorn.Server(
                uvicorn.Config(
                    self.emulator.app,
                    http=_PeerCertProtocol,
                    ssl_certfile=str(self.tls.server_cert),
                    ssl_keyfile=str(self.tls.server_key),
                    ssl_ca_certs=str(self.tls.ca_cert),
                    ssl_cert_reqs=ssl.CERT_OPTIONAL,
                    **common,
                )
            )
            pairs.append((secure, self._thread.bind(self.host, self._ports[1])))
        self._thread.start(pairs)
        return self.url

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m ivoa_broker_canfar.emulator``: serve the emulator for demos."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tls-port", type=int, default=8766)
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN=USER",
        help="accept this bearer token for this user (repeatable; default demo-token=demo)",
    )
    parser.add_argument(
        "--tls-dir",
        type=Path,
        help="also serve HTTPS with a fresh test CA written here (client certificate "
        "for user 'demo': DIR/demo-cadcproxy.pem)",
    )
    args = parser.parse_args(argv)
    tokens = dict(t.split("=", 1) for t in args.token) or {"demo-token": "demo"}
    emulator = SkahaEmulator(EmulatorSettings(tokens=tokens))
    pki = make_test_pki(args.tls_dir, ("demo",)) if args.tls_dir else None
    server = EmulatorServer(
        emulator, host=args.host, log_level="info", tls=pki, port=args.port, tls_port=args.tls_port
    )
    server.start()
    print(f"skaha emulator at {server.url} (users: {sorted(tokens.values())})")
    if pki is not None:
        print(f"  and at {server.tls_url} (CA {pki.ca_cert}, client {pki.clients['demo']})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
