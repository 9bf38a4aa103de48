"""Helpers of the BinderHub adapter tests: the emulator served on a free port, local
git repositories, adapter configs and the kit's platform controller."""

from __future__ import annotations

import asyncio
import functools
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from ivoa_broker_binderhub import BinderHubConfig
from ivoa_broker_binderhub._adapter import native_id_of
from ivoa_broker_binderhub._hub import Hub
from ivoa_broker_binderhub._records import RecordStore
from ivoa_broker_binderhub._tags import SessionTags
from ivoa_broker_binderhub.emulator import BinderEmulator
from ivoa_broker_jupyterhub.localhub import LocalHub
from pydantic import SecretStr

from ivoa_broker.testing import TERMINAL, Fault, PlatformControls
from ivoa_broker.testing.serving import QUIET, ServerThread

#: the BinderHub API token the emulator requires (conftest and tests share it)
BINDER_TOKEN = "binder-secret-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_emulator(emulator: BinderEmulator) -> Iterator[str]:
    """Run the emulator's app with uvicorn in a thread; yields its URL."""
    thread = ServerThread("binderhub-emulator")
    sock = thread.bind("127.0.0.1")
    thread.start([(uvicorn.Server(uvicorn.Config(emulator.app(), **QUIET)), sock)])
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        thread.stop(timeout=10)


def make_repo(path: Path) -> Path:
    """A local git repository with a notebook and an environment file."""
    path.mkdir(parents=True)
    (path / "requirements.txt").write_text("numpy\n")
    (path / "demo.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
    )
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
        "HOME": str(path),
    }
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "."],
        ["git", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(argv, cwd=path, check=True, env=env)
    return path


@contextmanager
def serve_repo(repo: Path, name: str) -> Iterator[str]:
    """A bare copy of ``repo`` served over git's HTTP protocol on loopback (as a
    Git host serves it); yields its URL ``http://127.0.0.1:<port>/<name>``."""
    root = repo.parent / f"{repo.name}-served"
    bare = root / name
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = functools.partial(QuietFiles, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def adapter_config(binder_url: str, hub: LocalHub, **overrides: Any) -> BinderHubConfig:
    return BinderHubConfig(
        url=binder_url,
        token=SecretStr("binder-secret-token"),
        hub_url=hub.url,
        hub_token=SecretStr(hub.token.reveal()),
        **overrides,
    )


class BinderPlatform:
    """The kit's view: the jobs of an adapter's data folder, and the sessions on the hub
    that carry the adapter's tag (``tag``: its instance name)."""

    def __init__(self, hub: LocalHub, data_dir: Path, emulator: BinderEmulator, tag: str) -> None:
        self.hub = hub
        self.data_dir = data_dir
        self.emulator = emulator
        self.tag = tag

    @property
    def controls(self) -> PlatformControls:
        # health is the one operation that asks BinderHub itself in the call (submit
        # starts the build stream in the background; stop and cleanup go to the hub)
        faults = {Fault.AUTH, Fault.UNAVAILABLE, Fault.CONNECTION, Fault.GARBAGE}
        return PlatformControls(native_ids=True, finish=False, faults={"health": frozenset(faults)})

    async def native_ids(self) -> set[str]:
        """Every job until its cleanup: its record, or its tagged session on the hub."""
        async with Hub(self.hub.url, self.hub.token) as hub:
            tagged = await SessionTags(hub, self.tag).ours()
        return set(RecordStore(self.data_dir).all()) | {native_id_of(t.job_id) for t in tagged}

    def fail_next(self, op: str, fault: Fault) -> None:
        assert op == "health", op
        faults = self.emulator.faults
        if fault is Fault.GARBAGE:
            faults.garbage_next(path="/health")
        elif fault is Fault.CONNECTION:
            faults.drop_next(path="/health")
        else:
            faults.fail_next(fault.http_status or 500, path="/health")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise AssertionError("sessions end by themselves (culled) or by cancel")


async def ready_endpoint(adapter: Any, handle: Any, ctx: Any) -> str:
    """The session endpoint once the job is EXECUTING with one (``ready``)."""
    endpoint: str | None = None

    async def has_endpoint() -> bool:
        nonlocal endpoint
        found = await adapter.status_many([handle], ctx)
        status = found.get(handle.native_id)
        if status is not None and status.phase in TERMINAL:
            raise AssertionError(f"{handle.native_id} ended: {status}")
        endpoint = None if status is None else status.endpoint
        return endpoint is not None

    await wait_until(has_endpoint, timeout=120)
    assert endpoint is not None
    return endpoint


async def hub_servers(hub: LocalHub) -> set[tuple[str, str]]:
    """``(user, server)`` of every server on the hub that is not stopped."""
    async with Hub(hub.url, hub.token) as client:
        users = await client.users()
    return {(u.name, s.name) for u in users for s in u.servers.values() if not s.stopped}


async def wait_until(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)
