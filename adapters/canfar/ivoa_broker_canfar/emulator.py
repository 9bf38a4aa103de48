"""An emulator of the CANFAR skaha v1 sessions API, for tests and demos.

It reproduces the documented wire behaviour of ``{base}/v1`` (base path
``/skaha``): form or query parameters on ``POST /v1/session`` answered with the
session id as ``text/plain``; JSON session listings with skaha's fields (Gson
style: numbers as strings, ``"<none>"`` for unknown values); status
progression ``Pending -> Running -> Succeeded/Failed`` and ``Terminating`` on
delete; 401 without a valid bearer token; 404 for unknown ids; ``action=renew``;
``view=logs`` and ``view=events`` as text; ``/v1/context``, ``/v1/image`` and
``/v1/repository``; skaha's validation messages (name pattern, trusted
registries, image/type mismatch, resource options, maximum interactive
sessions) and its quirks (``args`` split on single spaces, ``env`` entries
that do not split into exactly two parts on ``=`` silently dropped, names
stored lower-case).

Headless sessions **really run**: the image is ignored and ``cmd`` + ``args``
run as a local process with the given ``env`` (plus ``PATH``/``HOME``), so logs
and exit codes are real. Interactive sessions become ``Running`` with a
``connectURL`` served by the emulator itself (a small HTML page).

Tests steer it through :class:`SkahaEmulator` (``faults``, ``hold``,
``release``, ``expire``, ``calls``); demos through ``POST /_emulator/faults``.
Run it with ``python -m ivoa_broker_canfar.emulator --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import string
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["EmulatorServer", "EmulatorSettings", "Faults", "SkahaEmulator", "main"]

NONE = "<none>"
INTERACTIVE = ("notebook", "desktop", "carta", "contributed", "firefly")
_NAME = re.compile(r"^[A-Za-z0-9-]+$")

DEFAULT_IMAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("images.canfar.net/skaha/base-notebook:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/astroml:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/astroml-cuda:latest", ("notebook", "headless")),
    ("images.canfar.net/skaha/terminal:1.1.2", ("headless",)),
    ("images.canfar.net/skaha/desktop:latest", ("desktop",)),
    ("images.canfar.net/skaha/carta:4.1", ("carta",)),
    ("images.canfar.net/skaha/firefly:2024.3", ("firefly",)),
    ("images.canfar.net/contrib/pluto:0.19", ("contributed",)),
)


@dataclass(frozen=True)
class EmulatorSettings:
    """What the emulated site offers. ``tokens`` maps bearer tokens to user ids."""

    tokens: Mapping[str, str] = field(default_factory=lambda: {"demo-token": "demo"})
    cores: tuple[int, ...] = (1, 2, 4, 8, 16)
    memory_gb: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    gpus: tuple[int, ...] = (1, 2, 4)
    images: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_IMAGES
    registries: tuple[str, ...] = ("images.canfar.net",)
    max_interactive_sessions: int = 3
    session_expiry_seconds: int = 4 * 24 * 3600
    #: how long a new session stays Pending (seconds)
    start_delay: float = 0.05
    #: how long a deleted session stays listed as Terminating (seconds)
    terminate_delay: float = 0.05
    #: the final status of a successful headless session (newer servers: Completed)
    completed_status: str = "Succeeded"


# ----------------------------------------------------------------------- faults


@dataclass
class _Fault:
    kind: str  # "status" | "garbage" | "slow" | "drop"
    count: int
    status: int = 500
    body: str | None = None
    seconds: float = 0.0
    method: str | None = None
    path: str | None = None
    prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
            and (self.prefix is None or path.startswith(self.prefix))
        )


class Faults:
    """Fault injection, safe to drive from another thread than the server's.

    Each fault applies to the next ``count`` matching calls under ``/skaha``
    (``method``; ``path``, the exact URL path such as ``/skaha/v1/session``;
    ``prefix``, a path prefix): ``fail_next`` answers with an HTTP error without
    doing anything; ``garbage_next`` answers 200 with a body that is neither
    JSON nor a session id, without doing anything; ``drop_next`` starts an
    answer and closes the connection half-way (the client sees a broken
    connection); ``slow_next`` waits ``seconds`` before handling the call
    normally (so a client that gave up may still have changed something).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []

    def fail_next(
        self,
        status: int = 500,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
        body: str | None = None,
    ) -> None:
        fault = _Fault("status", count, status=status, body=body, method=method, path=path)
        fault.prefix = prefix
        self._add(fault)

    def garbage_next(
        self,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(_Fault("garbage", count, method=method, path=path, prefix=prefix))

    def drop_next(
        self,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(_Fault("drop", count, method=method, path=path, prefix=prefix))

    def slow_next(
        self,
        seconds: float,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._add(_Fault("slow", count, seconds=seconds, method=method, path=path, prefix=prefix))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.count for f in self._queue)

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queue.remove(fault)
                    return fault
        return None


class _Dropped(Response):
    """Starts a response it never finishes: the server closes the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1000"), (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ConnectionAbortedError("emulated dropped connection")


# --------------------------------------------------------------------- sessions


def _digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else NONE


@dataclass
class EmulatedSession:
    id: str
    userid: str
    name: str
    type: str
    image: str
    cores: int
    ram: int
    gpus: int
    cmd: str | None = None
    args: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    status: str = "Pending"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    expiry: datetime = field(default_factory=lambda: datetime.now(UTC))
    connect_url: str | None = None
    log: bytearray = field(default_factory=bytearray)
    events: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    exit_code: int | None = None
    process: asyncio.subprocess.Process | None = None
    workdir: str | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def event(self, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message, datetime.now(UTC)))

    def events_text(self) -> str:
        lines = [f"{'TYPE':<8} {'REASON':<22} {'MESSAGE':<60} FIRST-TIME           LAST-TIME"]
        for kind, reason, message, at in self.events:
            lines.append(f"{kind:<8} {reason:<22} {message:<60} {_iso(at)} {_iso(at)}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userid": self.userid,
            "runAsUID": "20021",
            "runAsGID": "20021",
            "supplementalGroups": [],
            "appid": NONE,
            "image": self.image,
            "type": self.type,
            "status": self.status,
            "name": self.name,
            "startTime": _iso(self.created),
            "expiryTime": _iso(self.expiry),
            "connectURL": self.connect_url or NONE,
            "requestedRAM": f"{self.ram}G",
            "requestedCPUCores": str(self.cores),
            "requestedGPUCores": str(self.gpus),
            "ramInUse": NONE,
            "gpuRAMInUse": NONE,
            "cpuCoresInUse": NONE,
            "gpuUtilization": NONE,
            "isFixedResources": True,
        }


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request, str], Awaitable[Response]]


class SkahaEmulator:
    """The emulated skaha service. ``app`` is the Starlette application."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.faults = Faults()
        #: ``(method, path?query)`` of every call under /skaha, in order
        self.calls: list[tuple[str, str]] = []
        #: when true, new sessions stay Pending until :meth:`release`
        self.hold = False
        self.sessions: dict[str, EmulatedSession] = {}
        self.tokens: dict[str, str] = dict(self.settings.tokens)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    # ---------------------------------------------------------- test controls

    def add_user(self, token: str, userid: str) -> None:
        """Accept ``token`` as a bearer token for ``userid`` from now on."""
        self.tokens[token] = userid

    def native_ids(self, userid: str | None = None) -> set[str]:
        """Ids of the sessions that exist and are not being deleted."""
        return {
            s.id
            for s in list(self.sessions.values())
            if userid in (None, s.userid) and s.status != "Terminating"
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
            Route("/skaha/v1/session", g(self._sessions), methods=["GET", "POST"]),
            Route("/skaha/v1/session/{id}", g(self._session), methods=["GET", "POST", "DELETE"]),
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
                if fault.kind == "status":
                    text = fault.body if fault.body is not None else f"emulated {fault.status}"
                    return PlainTextResponse(text + "\n", fault.status)
                if fault.kind == "drop":
                    return _Dropped()
                if fault.kind == "garbage":
                    return Response(
                        b"\x00<html><body>Proxy says: \xff{not json</body></html>",
                        200,
                        media_type="application/json",
                    )
                await request.body()  # a server reads the request before it dawdles
                await asyncio.sleep(fault.seconds)
            user = self._user(request)
            if user is None:
                return PlainTextResponse("authentication required (bearer token)\n", 401)
            try:
                return await handler(request, user)
            except _Refusal as refusal:
                return PlainTextResponse(refusal.message + "\n", refusal.status)

        return endpoint

    def _user(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.tokens.get(token.strip())

    async def _availability(self, request: Request) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
            "<vosi:available>true</vosi:available>"
            "<vosi:note>skaha emulator</vosi:note></vosi:availability>\n"
        )
        return Response(body, media_type="text/xml")

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

    # ----------------------------------------------------------- skaha API

    async def _context(self, request: Request, user: str) -> Response:
        s = self.settings

        def block(options: Sequence[int]) -> dict[str, Any]:
            return {
                "default": options[0],
                "defaultRequest": options[0],
                "defaultLimit": options[min(2, len(options) - 1)],
                "options": list(options),
            }

        return JSONResponse(
            {
                "cores": block(s.cores),
                "memoryGB": block(s.memory_gb),
                "gpus": {"options": list(s.gpus)},
                "maxInteractiveSessions": s.max_interactive_sessions,
            }
        )

    async def _images(self, request: Request, user: str) -> Response:
        wanted = request.query_params.get("type")
        return JSONResponse(
            [
                {"id": ident, "types": list(types), "digest": _digest(ident)}
                for ident, types in self.settings.images
                if wanted is None or wanted in types
            ]
        )

    async def _repository(self, request: Request, user: str) -> Response:
        return JSONResponse(list(self.settings.registries))

    async def _sessions(self, request: Request, user: str) -> Response:
        if request.method == "POST":
            return await self._create(request, user)
        self._expire_due()
        view = request.query_params.get("view")
        if view == "stats":
            return JSONResponse(self._stats())
        wanted_type = request.query_params.get("type")
        wanted_status = request.query_params.get("status")
        listed = []
        for session in list(self.sessions.values()):
            if view != "all" and session.userid != user:
                continue
            if wanted_type and session.type != wanted_type:
                continue
            if wanted_status and session.status != wanted_status:
                continue
            data = session.to_json()
            if view == "all":
                data = {k: data[k] for k in ("userid", "type", "status", "startTime")}
            listed.append(data)
        return JSONResponse(listed)

    def _stats(self) -> dict[str, Any]:
        busy = [s for s in self.sessions.values() if s.status in ("Pending", "Running")]
        return {
            "instances": {"session": len(busy)},
            "cores": {
                "requestedCPUCores": sum(s.cores for s in busy),
                "cpuCoresAvailable": max(self.settings.cores) * 4,
            },
            "ram": {
                "requestedRAM": f"{sum(s.ram for s in busy)}G",
                "ramAvailable": f"{max(self.settings.memory_gb) * 4}G",
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

    def _option(
        self, params: dict[str, list[str]], key: str, options: Sequence[int], default: int
    ) -> int:
        if key not in params:
            return default
        raw = params[key][0]
        try:
            value = int(raw)
        except ValueError:
            raise _Refusal(400, f"Invalid value for '{key}': {raw}") from None
        if value not in options:
            raise _Refusal(400, f"Invalid value for '{key}': {raw}")
        return value

    async def _create(self, request: Request, user: str) -> Response:
        params = await self._params(request)
        first = {k: v[0] for k, v in params.items()}
        image = first.get("image")
        if not image:
            raise _Refusal(400, "Missing parameter 'image'")
        stype = self._validate_image(image, first.get("type"))
        s = self.settings
        cores = self._option(params, "cores", s.cores, s.cores[0])
        ram = self._option(params, "ram", s.memory_gb, s.memory_gb[min(1, len(s.memory_gb) - 1)])
        gpus = 0
        if "gpus" in params:
            gpus = self._option(params, "gpus", s.gpus, 0)
        name = first.get("name")
        if name is None:
            raise _Refusal(400, "Missing parameter 'name'")
        if not _NAME.match(name):
            raise _Refusal(400, "name can only contain alpha-numeric chars and '-'")
        if stype != "headless":
            active = [
                x
                for x in self.sessions.values()
                if x.userid == user
                and x.type != "headless"
                and x.status not in ("Terminating", s.completed_status, "Succeeded")
            ]
            if len(active) >= s.max_interactive_sessions:
                raise _Refusal(
                    400,
                    f"User {user} has reached the maximum of {s.max_interactive_sessions} "
                    "active sessions.",
                )
        env: dict[str, str] = {}
        for entry in params.get("env", []):
            parts = entry.split("=")
            if len(parts) == 2:  # skaha drops anything else without a word
                env[parts[0]] = parts[1]
        ident = self._new_id()
        now = datetime.now(UTC)
        session = EmulatedSession(
            id=ident,
            userid=user,
            name=name.lower(),
            type=stype,
            image=image,
            cores=cores,
            ram=ram,
            gpus=gpus,
            cmd=first.get("cmd") if stype == "headless" else None,
            args=first.get("args") if stype == "headless" else None,
            env=env if stype == "headless" else {},
            created=now,
            expiry=now + timedelta(seconds=s.session_expiry_seconds),
        )
        self.sessions[ident] = session
        session.event("Normal", "SuccessfulCreate", f"Created pod: {session.name}-{ident}")
        base = f"{request.url.scheme}://{request.url.netloc}"
        runner = (
            self._run_headless(session)
            if stype == "headless"
            else self._run_interactive(session, base)
        )
        session.tasks.append(asyncio.create_task(runner))
        return PlainTextResponse(ident + "\n")

    def _validate_image(self, image: str, stype: str | None) -> str:
        if stype is not None and stype not in (*INTERACTIVE, "headless"):
            raise _Refusal(400, f"Illegal session type: {stype}")
        if not any(image.startswith(host + "/") for host in self.settings.registries):
            hosts = ",".join(self.settings.registries)
            raise _Refusal(400, f"session image must come from one of [{hosts}]")
        types = dict(self.settings.images).get(image)
        if types is None:
            raise _Refusal(404, f"image not found or not labelled: {image}")
        if stype is None:
            return types[0]
        if stype not in types:
            raise _Refusal(400, f"image/type mismatch: {image}/{stype}")
        return stype

    def _new_id(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            ident = "".join(random.choices(alphabet, k=8))
            if ident not in self.sessions:
                return ident

    def _own(self, request: Request, user: str) -> EmulatedSession:
        ident = request.path_params["id"]
        session = self.sessions.get(ident)
        if session is None or session.userid != user:
            raise _Refusal(404, f"session not found: {ident}")
        return session

    async def _session(self, request: Request, user: str) -> Response:
        self._expire_due()
        session = self._own(request, user)
        if request.method == "DELETE":
            self._delete(session)
            return Response(status_code=200)
        if request.method == "POST":
            action = (await self._params(request)).get("action", [""])[0]
            if not action:
                raise _Refusal(400, "Cannot modify an existing session")
            if action.lower() != "renew":
                raise _Refusal(400, "unrecognized action")
            if session.status not in ("Pending", "Running"):
                raise _Refusal(400, f"No active job for user {user} with session {session.id}")
            session.expiry = datetime.now(UTC) + timedelta(
                seconds=self.settings.session_expiry_seconds
            )
            return Response(status_code=200)
        view = request.query_params.get("view")
        if view == "logs":
            return PlainTextResponse(session.log.decode(errors="replace"))
        if view == "events":
            return PlainTextResponse(session.events_text())
        return JSONResponse(session.to_json())

    # ------------------------------------------------------------ lifecycle

    async def _started(self, session: EmulatedSession) -> None:
        await asyncio.sleep(self.settings.start_delay)
        if self.hold:
            await session.released.wait()
        session.event("Normal", "Scheduled", f"Successfully assigned {session.id} to node-1")
        session.event("Normal", "Pulled", f'Container image "{session.image}" already present')

    async def _run_interactive(self, session: EmulatedSession, base: str) -> None:
        await self._started(session)
        if session.status != "Pending":
            return
        paths = {
            "notebook": f"lab/tree/arc/home/{session.userid}?token={session.id}",
            "desktop": f"?password={session.id}&path=session/desktop/{session.id}/",
            "carta": f"?socketUrl=wss://emulator/session/carta/ws/{session.id}/",
        }
        session.connect_url = f"{base}/session/{session.type}/{session.id}/" + paths.get(
            session.type, ""
        )
        session.event("Normal", "Started", "Started container")
        session.status = "Running"

    async def _run_headless(self, session: EmulatedSession) -> None:
        await self._started(session)
        if session.status != "Pending":
            return
        argv = ([session.cmd] if session.cmd else []) + (
            session.args.split(" ") if session.args else []
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
        session.event("Normal", "Started", "Started container")
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
        session.event("Normal", "Killing", "Stopping container")
        self._kill(session)
        session.tasks.append(asyncio.create_task(self._reap(session)))

    async def _reap(self, session: EmulatedSession) -> None:
        await asyncio.sleep(self.settings.terminate_delay)
        if session.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await session.process.wait()
        self.sessions.pop(session.id, None)
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


# ----------------------------------------------------------------------- server


class EmulatorServer:
    """Serves a :class:`SkahaEmulator` with uvicorn on loopback in a thread.

    ``url`` is the skaha base URL (``http://127.0.0.1:PORT/skaha``), the value
    of the adapter's ``url`` setting. The port is chosen by the kernel.
    """

    def __init__(
        self,
        emulator: SkahaEmulator | None = None,
        host: str = "127.0.0.1",
        log_level: str = "warning",
    ) -> None:
        self.emulator = emulator or SkahaEmulator()
        self.host = host
        self.log_level = log_level
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._sock.getsockname()[1]}/skaha"

    def start(self) -> str:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, 0))
        config = uvicorn.Config(
            self.emulator.app,
            log_level="warning",
            lifespan="on",
            ws="none",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        sock, server = self._sock, self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="skaha-emulator",
            daemon=True,
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the skaha emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._sock is not None:
            self._sock.close()

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
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN=USER",
        help="accept this bearer token for this user (repeatable; default demo-token=demo)",
    )
    args = parser.parse_args(argv)
    tokens = dict(t.split("=", 1) for t in args.token) or {"demo-token": "demo"}
    emulator = SkahaEmulator(EmulatorSettings(tokens=tokens))
    print(
        f"skaha emulator at http://{args.host}:{args.port}/skaha (users: {sorted(tokens.values())})"
    )
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
