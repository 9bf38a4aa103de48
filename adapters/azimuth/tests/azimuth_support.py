"""Helpers of the Azimuth tests: configuration, the broker's callback route stand-in, and
platform controllers for the conformance kit (the emulator, and a real portal)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any
from urllib.parse import unquote

import uvicorn
from ivoa_broker_azimuth import AzimuthAdapter, AzimuthConfig
from ivoa_broker_azimuth.emulator import AzimuthEmulator
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ivoa_broker.protocol import AdapterError, CallContext, Handle
from ivoa_broker.testing import Fault, PlatformControls
from ivoa_broker.testing.serving import QUIET, ServerThread

#: fast retries so fault tests stay quick; the number matters to fault counts
RETRIES = 2
TIMEOUT = 1.0


def config_for(url: str, cred: tuple[str, str], **overrides: Any) -> AzimuthConfig:
    values: dict[str, Any] = {
        "url": url,
        "application_credential_id": cred[0],
        "application_credential_secret": cred[1],
        "retries": RETRIES,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "timeout_seconds": 5.0,
    }
    values.update(overrides)
    return AzimuthConfig.model_validate(values)


class Callbacks:
    """Stands in for the broker's ``POST /callbacks/<instance>/<job id>`` route.

    Serves in its own thread; each callback is handed to the adapter registered for the
    instance, on that adapter's event loop, with a Handle found from ``list_native`` (what
    the broker would have stored, minus the secret digest, which the adapter keeps too).
    """

    def __init__(self) -> None:
        self._adapters: dict[str, tuple[AzimuthAdapter, asyncio.AbstractEventLoop]] = {}
        self.received: list[str] = []
        self.errors: list[str] = []
        app = Starlette(
            routes=[Route("/callbacks/{instance}/{job_id}", self._post, methods=["POST"])]
        )
        self._app = app
        self._thread = ServerThread("azimuth-callbacks")
        self._sock = self._thread.bind("127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def prefix(self, instance: str) -> str:
        return f"{self.url}/callbacks/{instance}"

    def start(self) -> None:
        config = uvicorn.Config(self._app, **{**QUIET, "lifespan": "off"})
        self._thread.start([(uvicorn.Server(config), self._sock)])

    def stop(self) -> None:
        self._thread.stop(timeout=10)

    def register(self, adapter: AzimuthAdapter) -> None:
        self._adapters[adapter.name] = (adapter, asyncio.get_running_loop())

    def unregister(self, adapter: AzimuthAdapter) -> None:
        self._adapters.pop(adapter.name, None)

    async def _post(self, request: Request) -> Response:
        instance = request.path_params["instance"]
        job_id = unquote(request.path_params["job_id"])
        secret = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = await value.read()
                else:
                    fields[key] = str(value)
        entry = self._adapters.get(instance)
        if entry is None:
            return PlainTextResponse("no such instance", status_code=404)
        adapter, loop = entry
        future = asyncio.run_coroutine_threadsafe(
            self._deliver(adapter, job_id, secret, fields, files), loop
        )
        try:
            await asyncio.wrap_future(future)
        except AdapterError as exc:
            self.errors.append(f"{job_id}: {exc}")
            return PlainTextResponse(str(exc), status_code=exc.http_status)
        self.received.append(job_id)
        return Response(status_code=204)

    @staticmethod
    def _deliver(
        adapter: AzimuthAdapter,
        job_id: str,
        secret: str,
        fields: dict[str, str],
        files: dict[str, bytes],
    ) -> Coroutine[Any, Any, None]:
        async def run() -> None:
            ctx = CallContext(owner="callback")
            natives = {j: n for n, j in (await adapter.list_native(ctx)).items()}
            handle = Handle(
                adapter=adapter.name, native_id=natives[job_id], state={"job_id": job_id}
            )
            await adapter.receive_callback(handle, secret, fields, files)

        return run()


#: adapter operation -> (method, exact path or path prefix, is it a prefix) of the first
#: call that operation makes, under /api/tenancies/<id>, once the catalog is cached
_TARGET: dict[str, tuple[str, str, bool]] = {
    "health": ("GET", "/quotas/", False),
    "offers": ("GET", "/quotas/", False),
    "submit": ("POST", "/machines/", False),
    "status": ("GET", "/machines/", False),
    "list_native": ("GET", "/machines/", False),
    "cancel": ("DELETE", "/machines/", True),
    "cleanup": ("DELETE", "/machines/", True),
    "logs": ("GET", "/machines/", True),
}
_EVERYTHING: frozenset[Fault] = frozenset(f for f in Fault if f is not Fault.NOT_FOUND)
_FAULTS = {op: _EVERYTHING for op in _TARGET}
for _op in ("cancel", "cleanup"):  # a DELETE's answer body is never read
    _FAULTS[_op] = (_EVERYTHING - {Fault.GARBAGE}) | {Fault.NOT_FOUND}
_FAULTS["status"] = _EVERYTHING | {Fault.NOT_FOUND}


class EmulatedAzimuth:
    """Drives the emulator for one tenancy.

    Faults that the client retries (5xx, timeouts, broken connections) are injected
    ``1 + retries`` times so that they outlast the retries; a 401 twice (the client
    authenticates once more and repeats the call); a create (``POST``) once.
    """

    def __init__(self, emulator: AzimuthEmulator, tenancy_id: str) -> None:
        self.emulator = emulator
        self.tenancy_id = tenancy_id

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults=_FAULTS)

    def _prefix(self) -> str:
        return f"/api/tenancies/{self.tenancy_id}"

    async def native_ids(self) -> set[str]:
        tenancy = self.emulator.tenancies[self.tenancy_id]
        ids = self.emulator.native_ids(self.tenancy_id)
        out = set()
        for ident in ids:
            if ident in tenancy.machines:
                out.add(f"machine:{ident}")
            elif ident in tenancy.apps:
                out.add(f"app:{ident}")
            else:
                out.add(f"cluster:{ident}")
        return out

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("emulated machines end by themselves")

    def fail_next(self, op: str, fault: Fault) -> None:
        method, tail, is_prefix = _TARGET[op]
        if fault is Fault.NOT_FOUND:
            self.emulator.purge(self.tenancy_id)  # purged behind the adapter's back
            return
        where = f"/api/tenancies/{self.tenancy_id}{tail}"
        kwargs: dict[str, Any] = {
            "method": method,
            "path": None if is_prefix else where,
            "prefix": where if is_prefix else None,
        }
        faults = self.emulator.faults
        retried = 1 if method == "POST" else 1 + RETRIES
        if fault is Fault.AUTH:
            body = '{"detail": "Your session has expired."}'
            faults.fail_next(401, count=2, body=body, **kwargs)
        elif fault is Fault.UNAVAILABLE:
            faults.fail_next(503, count=retried, **kwargs)
        elif fault is Fault.TIMEOUT:
            faults.slow_next(TIMEOUT * 2, count=retried, **kwargs)
        elif fault is Fault.CONNECTION:
            faults.drop_next(count=retried, **kwargs)
        elif fault is Fault.GARBAGE:
            faults.garbage_next(**kwargs)


class LiveAzimuth:
    """Inspects a real tenancy through the adapter's own listing."""

    def __init__(self, adapter: AzimuthAdapter, ctx: CallContext) -> None:
        self.adapter = adapter
        self.ctx = ctx

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults={})

    async def native_ids(self) -> set[str]:
        return set(await self.adapter.list_native(self.ctx))

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("no fault injection on a real platform")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("real machines end by themselves")
