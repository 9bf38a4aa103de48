"""Fixtures for the local adapter tests: real subprocesses in a temporary work dir."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig
from ivoa_broker_local._procs import ProcIdentity, is_alive, read_stat

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Handle, Status

#: a hang guard, not an assertion on timing: a test that waits longer is broken
HANG_GUARD_SECONDS = 60.0


class Wakes:
    """A ``deps.wake`` that records every call and lets tests await one job's wake."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._events: dict[str, asyncio.Event] = {}

    def __call__(self, native_id: str) -> None:
        self.calls.append(native_id)
        self._event(native_id).set()

    def _event(self, native_id: str) -> asyncio.Event:
        return self._events.setdefault(native_id, asyncio.Event())

    async def wait_for(self, native_id: str) -> None:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await self._event(native_id).wait()


async def process_ended(pid: int) -> None:
    """Return once process ``pid`` has ended (pidfd readiness; no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(fd, done.set)
    try:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await done.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def runner_pid(handle: Handle) -> int:
    runner = handle.state["runner"]
    assert isinstance(runner, dict)
    return int(runner["pid"])


def alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.state not in "ZX"


@pytest.fixture
def ctx() -> CallContext:
    return CallContext(owner="tester", request_id="t")


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


def _kill_strays(work_dir: Path) -> None:
    """SIGKILL every supervisor and job process that belongs to ``work_dir``.

    Job processes are recognised by their ``IVOA_BROKER_OUTPUT_DIR`` (inside
    ``work_dir``, so unique to the test), wherever they are (daemons included);
    supervisors by their ``runner.json`` identity.
    """
    prefix = f"IVOA_BROKER_OUTPUT_DIR={work_dir}/".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(prefix) for item in environ):
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)
    for runner in work_dir.glob("*/runner.json"):
        data = json.loads(runner.read_text())
        ident = ProcIdentity(int(data["pid"]), int(data["start_ticks"]), str(data["boot_id"]))
        if is_alive(ident):
            os.kill(ident.pid, signal.SIGKILL)


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    yield path
    # safety net: nothing started under this work dir may outlive the test
    if path.is_dir():
        _kill_strays(path)


#: the process-machinery tests watch job processes from the host (their pids, FIFOs
#: in the test's folder), which the sandbox hides by design: they run unsandboxed.
#: ``test_sandbox.py`` and the conformance kit run with the default sandbox.
UNSANDBOXED = "none"


@pytest.fixture
def config() -> LocalConfig:
    # containers off: these tests are about processes, the same with or without an engine
    # on the machine (``test_container.py`` and the docker tests cover containers)
    return LocalConfig(kill_grace_seconds=2.0, sandbox=UNSANDBOXED, containers="off")


@pytest.fixture
async def adapter(work_dir: Path, wakes: Wakes, config: LocalConfig) -> AsyncIterator[LocalAdapter]:
    deps = AdapterDeps(data_dir=work_dir, wake=wakes)
    async with LocalAdapter("local-test", config, deps) as a:
        yield a


async def submit(adapter: LocalAdapter, request: ExecutionRequest, ctx: CallContext) -> Handle:
    offers = await adapter.offers(request, ctx)
    assert len(offers) == 1, adapter.explain_refusal(request)
    return await adapter.submit(request, offers[0], ctx)


async def run_to_end(
    adapter: LocalAdapter, wakes: Wakes, request: ExecutionRequest, ctx: CallContext
) -> tuple[Handle, Status]:
    """Submit, await the wake of the job's end, return its (terminal) status."""
    handle = await submit(adapter, request, ctx)
    await wakes.wait_for(handle.native_id)
    return handle, (await adapter.status_many([handle], ctx))[handle.native_id]
