"""Helpers shared by the JupyterHub adapter tests: configs, a platform
controller for the conformance kit, notebooks, and a tiny file server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from ivoa_broker_jupyterhub import JupyterHubConfig
from ivoa_broker_jupyterhub._naming import job_id_from_server, native_id
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

