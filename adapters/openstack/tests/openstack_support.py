"""Helpers shared by the OpenStack adapter tests (stack control, config, callback route)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import requests.adapters
from ivoa_broker_openstack import OpenStackAdapter, OpenStackConfig
from ivoa_broker_openstack._adapter import META_JOB, META_SECRET_HASH
from ivoa_broker_openstack.testing import GuestStandIn

from ivoa_broker.protocol import CallContext, Handle, Phase, Status
from ivoa_broker.testing import TERMINAL, WakeSignal, wait_for_phase

STACK = Path(__file__).resolve().parent.parent / "stack"
VENV = Path(os.environ.get("OS_VENV", "/opt/ivoa-broker-openstack/venv"))
#: where a reused stack (IVOA_OPENSTACK_CLOUDS) lives; a stack started by the tests gets
#: a fresh folder and free ports per run (conftest.openstack_stack)
BASE = Path(os.environ.get("OS_BASE", "/tmp/ivoa-broker-openstack"))
#: the ports openstack-up.sh uses when none are given (a reused stack)
DEFAULT_PORTS = {
    "keystone": 5000,
    "nova": 8774,
    "placement": 8778,
    "glance": 9292,
    "neutron": 9696,
    "mysql": 3307,
    "rabbit": 5672,
    "rabbit_dist": 25672,
}
#: a hang guard for waits, not an assertion on timing (the fake driver on 2 busy cores is slow)
MAX_WAIT = 240.0
CALLBACK_BASE = "http://127.0.0.1:9/broker"


@dataclass(frozen=True)
class Stack:
    clouds_yaml: Path
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @property
    def keystone_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['keystone']}/v3"

    @property
    def nova_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['nova']}"


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """One free loopback port per name (all bound at once, so they differ)."""
    names = list(names)
    socks = []
    try:
        for _ in names:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return {n: s.getsockname()[1] for n, s in zip(names, socks, strict=True)}
    finally:
        for sock in socks:
            sock.close()


def stack_env(base: Path, ports: Mapping[str, int], node: str) -> dict[str, str]:
    """The environment of the stack scripts for a stack in ``base`` on ``ports``."""
    env = {"OS_BASE": str(base), "OS_VENV": str(VENV), "OS_RABBIT_NODE": node}
    env.update({f"OS_PORT_{name.upper()}": str(port) for name, port in ports.items()})
    return env


def _installed() -> bool:
    return (VENV / "bin" / "nova-compute").exists() and all(
        shutil.which(b) for b in ("rabbitmq-server", "mariadbd", "curl")
    )


def _run(script: str, timeout: float, env: Mapping[str, str] | None = None) -> None:
    """Run a stack script, its output in a log file (daemons it starts must not hold a pipe)."""
    env = dict(env or {"OS_BASE": str(BASE), "OS_VENV": str(VENV)})
    base = Path(env["OS_BASE"])
    log = base.parent / f"{base.name}-{script.removesuffix('.sh')}.log"
    with log.open("w") as out:
        proc = subprocess.run(
            [str(STACK / script)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            env={**os.environ, **env},
        )
    if proc.returncode != 0:
        pytest.fail(f"{script} failed ({proc.returncode}), see {log}:\n{log.read_text()[-4000:]}")


def make_config(stack: Stack, **overrides: object) -> OpenStackConfig:
    values: dict[str, object] = {
        "cloud": "local",
        "clouds_yaml": stack.clouds_yaml,
        "image": "ci-tiny",
        "network": "ci-net",
        "callback_base_url": CALLBACK_BASE,
        "api_backoff_seconds": 0.2,
        "schedule_wait_seconds": 120.0,
    }
    values.update(overrides)
    return OpenStackConfig.model_validate(values)


class Callbacks:
    """Stands in for the broker's callback route: job id -> Handle -> receive_callback."""

    def __init__(self, adapter: OpenStackAdapter) -> None:
        self.adapter = adapter
        self.handles: dict[str, Handle] = {}
        self.received: list[str] = []

    def register(self, handle: Handle) -> Handle:
        job_id = str(handle.state["job_id"])
        self.handles[job_id] = handle
        return handle

    async def deliver(
        self, url: str, secret: str, fields: dict[str, str], files: dict[str, bytes]
    ) -> None:
        prefix = f"{CALLBACK_BASE}/callbacks/{self.adapter.name}/"
        assert url.startswith(prefix), url
        job_id = unquote(url[len(prefix) :])
        handle = self.handles.get(job_id) or await self._handle_from_nova(job_id)
        if handle is None:
            # The server was deleted (a cancel raced the guest's end) and nothing registered its
            # handle: the broker's route would find the job already ended and drop the report.
            return
        await self.adapter.receive_callback(handle, secret, fields, files)
        self.received.append(job_id)

    async def _handle_from_nova(self, job_id: str) -> Handle | None:
        """What the broker would have stored: found again from the server's metadata."""
        prefix = self.adapter.config.server_name_prefix + job_id
        for server in await self.adapter.client.list_servers(prefix):
            if server.metadata.get(META_JOB) == job_id:
                return Handle(
                    adapter=self.adapter.name,
                    native_id=server.id,
                    state={"job_id": job_id, "secret_sha256": server.metadata[META_SECRET_HASH]},
                )
        return None


async def wait_phase(
    adapter: OpenStackAdapter,
    handle: Handle,
    ctx: CallContext,
    wake: WakeSignal,
    guest: GuestStandIn | None = None,
    phases: Iterable[Phase] = TERMINAL,
) -> list[Status]:
    """``wait_for_phase``, but failing at once when the guest stand-in met an error."""
    task = asyncio.create_task(
        wait_for_phase(adapter, handle, phases, ctx=ctx, max_wait=MAX_WAIT, wake=wake)
    )
    try:
        while not task.done():
            if guest is not None and guest.errors:
                raise AssertionError(f"the guest stand-in failed: {guest.errors!r}")
            await asyncio.wait({task}, timeout=0.5)
        return task.result()
    finally:
        task.cancel()


class FaultyTransport(requests.adapters.HTTPAdapter):
    """Answers the next ``count`` requests to Nova with a fault, then passes through.

    Version documents (``GET /v2.1``) always pass: the SDK re-reads them and ignores failures.
    """

    def __init__(self, kind: str, count: int, nova_url: str) -> None:
        super().__init__()
        self.nova_url = nova_url.rstrip("/")
        self.kind = kind
        self.count = count
        self.injected = 0

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = str(request.url).rstrip("/")
        # version documents: the SDK ignores failures
        discovery = url.endswith("/v2.1") or url == self.nova_url
        if discovery or self.injected >= self.count:
            return super().send(request, *args, **kwargs)
        self.injected += 1
        if self.kind == "connection":
            raise requests.exceptions.ConnectionError("injected: connection refused")
        if self.kind == "timeout":
            raise requests.exceptions.ReadTimeout("injected: read timed out")
        response = requests.Response()
        response.request = request
        response.url = str(request.url)
        response.headers["Content-Type"] = "application/json"
        if self.kind == "garbage":
            response.status_code = 200
            response._content = b"<html>this is not json"
        else:
            response.status_code = {
                "unavailable": 503,
                "auth": 401,
                "forbidden": 403,
                "not-found": 404,
            }[self.kind]
            response._content = (
                b'{"error": {"message": "injected", "code": %d}}' % response.status_code
            )
        return response
