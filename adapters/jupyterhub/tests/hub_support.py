"""Helpers shared by the JupyterHub adapter tests: configs, a platform
controller for the conformance kit, notebooks, and a tiny file server."""

from __future__ import annotations

import asyncio
import http.server
import re
import threading
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nbformat
from ivoa_broker_jupyterhub import JupyterHubConfig
from ivoa_broker_jupyterhub._naming import job_id_from_server, native_id, split_native
from ivoa_broker_jupyterhub.client import HubClient
from ivoa_broker_jupyterhub.localhub import LocalHub
from pydantic import SecretStr

from ivoa_broker.testing import Fault, PlatformControls


def adapter_config(hub: LocalHub, **overrides: Any) -> JupyterHubConfig:
    settings: dict[str, Any] = {
        "url": hub.url,
        "token_file": hub.token_file,
        "timeout_seconds": 30.0,
        **overrides,
    }
    if "token" in settings:
        settings.pop("token_file")
        settings["token"] = SecretStr(settings["token"])
    return JupyterHubConfig(**settings)


class HubPlatform:
    """The kit's view of the real hub: the named servers of this adapter's prefix."""

    def __init__(self, hub: LocalHub, prefix: str = "ivb") -> None:
        self.hub = hub
        self.prefix = prefix

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        async with HubClient(self.hub.url, self.hub.token) as client:
            return {
                native_id(user.name, name)
                for user in await client.users()
                for name in user.servers
                if job_id_from_server(self.prefix, name) is not None
            }

    def fail_next(self, op: str, fault: Fault) -> None:
        raise AssertionError("no faults are injected into the real hub")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise AssertionError("tasks on the real hub end by themselves")


def notebook(*cells: str, kernel: str = "python3") -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nbformat.writes(nb).encode()


def outputs(path: Path) -> list[str]:
    """The text outputs of an executed notebook, cell by cell."""
    nb = nbformat.reads(path.read_text(), as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(str(out.get("text", "")))
            elif "data" in out:
                texts.append(str(out["data"].get("text/plain", "")))
    return texts


@contextmanager
def file_server(files: Mapping[str, bytes]) -> Iterator[str]:
    """Serve ``files`` (name -> bytes) over HTTP on loopback; yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


#: which hub API request each adapter operation makes first (method, path under /hub/api)
_OP_REQUESTS: dict[str, tuple[str, re.Pattern[str]]] = {
    "submit": ("POST", re.compile(r"^/users/[^/]+/servers/[^/]+$")),
    "status": ("GET", re.compile(r"^/users$")),
    "list_native": ("GET", re.compile(r"^/users$")),
    "cancel": ("DELETE", re.compile(r"^/users/[^/]+/servers/[^/]+$")),
    "cleanup": ("DELETE", re.compile(r"^/users/[^/]+/servers/[^/]+$")),
    "logs": ("GET", re.compile(r"^/users/[^/]+$")),
    "health": ("GET", re.compile(r"^/$")),
}


class FaultTransport(httpx.AsyncBaseTransport):
    """httpx's transport with one-shot faults: the next hub request of an
    operation meets the fault instead of the hub (401, 404, 503, a timeout, a
    refused connection, or a body that does not parse)."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self._pending: dict[str, Fault] = {}

    def arm(self, op: str, fault: Fault) -> None:
        self._pending[op] = fault

    def clear(self) -> None:
        self._pending.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/hub/api") or "/"
        for op, fault in list(self._pending.items()):
            method, pattern = _OP_REQUESTS[op]
            if request.method == method and pattern.match(path):
                del self._pending[op]
                return self._fail(request, fault)
        return await self._real.handle_async_request(request)

    @staticmethod
    def _fail(request: httpx.Request, fault: Fault) -> httpx.Response:
        if fault is Fault.TIMEOUT:
            raise httpx.ReadTimeout("injected timeout", request=request)
        if fault is Fault.CONNECTION:
            raise httpx.ConnectError("injected connection refused", request=request)
        if fault is Fault.GARBAGE:
            return httpx.Response(200, content=b"<html>not json", request=request)
        status = fault.http_status or 500
        return httpx.Response(
            status, json={"status": status, "message": "injected"}, request=request
        )

    async def aclose(self) -> None:
        await self._real.aclose()


class FaultyHubPlatform(HubPlatform):
    """:class:`HubPlatform` that can also inject faults through a :class:`FaultTransport`.

    NOT_FOUND is real: the task's server is deleted on the hub behind the
    adapter's back (``fail_next_for`` targets one task; ``fail_next`` purges
    every server of this prefix, which in the kit's error tests is the one task).
    """

    def __init__(self, hub: LocalHub, transport: FaultTransport) -> None:
        super().__init__(hub)
        self.transport = transport

    @property
    def controls(self) -> PlatformControls:
        every = frozenset(Fault)
        return PlatformControls(
            native_ids=True,
            faults={op: every - {Fault.NOT_FOUND} for op in _OP_REQUESTS}
            | {"status": every, "cancel": every, "cleanup": every},
            targeted=True,
        )

    def fail_next(self, op: str, fault: Fault) -> Awaitable[None] | None:
        if fault is Fault.NOT_FOUND:
            return self._purge(None)
        self.transport.arm(op, fault)
        return None

    def fail_next_for(self, op: str, fault: Fault, native: str) -> Awaitable[None] | None:
        assert fault is Fault.NOT_FOUND
        return self._purge(native)

    async def _purge(self, only: str | None) -> None:
        targets = [only] if only is not None else sorted(await self.native_ids())
        async with HubClient(self.hub.url, self.hub.token) as client:
            for target in targets:
                user, server = split_native(target)
                for _ in range(200):
                    done = await client.stop_server(user, server, remove=True)
                    info = await client.user(user)
                    if done and (info is None or server not in info.servers):
                        break
                    await asyncio.sleep(0.2)
