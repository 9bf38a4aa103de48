"""The shared adapter conformance kit, run against real local processes."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig
from ivoa_broker_local._jobdir import is_native_id
from ivoa_broker_local._procs import ProcIdentity, is_alive, kill_session

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import (
    AdapterConformance,
    Fault,
    PlatformControls,
    WakeSignal,
)

_PURGE = frozenset({Fault.NOT_FOUND})


class LocalPlatform:
    """The controller of the real local platform: it lists job directories.

    The only fault it can cause is the local form of "purged": NOT_FOUND kills
    every job's processes and deletes every job directory, as an operator's
    ``kill -9`` and ``rm -rf`` would. There is no platform service to make
    unavailable, so no other fault exists. It does not need ``finish``: local
    tasks end by themselves, driven by the request.
    """

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(
            native_ids=True,
            finish=False,
            faults={"status": _PURGE, "cancel": _PURGE, "cleanup": _PURGE},
        )

    async def native_ids(self) -> set[str]:
        if not self.work_dir.is_dir():
            return set()
        return {p.name for p in self.work_dir.iterdir() if p.is_dir() and is_native_id(p.name)}

    def fail_next(self, op: str, fault: Fault) -> None:
        assert fault is Fault.NOT_FOUND, f"the local platform cannot inject {fault} into {op}"
        for job in self.work_dir.iterdir():
            runner = job / "runner.json"
            if runner.is_file():
                data = json.loads(runner.read_text())
                ident = ProcIdentity(int(data["pid"]), int(data["start_ticks"]), data["boot_id"])
                if is_alive(ident):  # the very supervisor (not a recycled pid): its session
                    kill_session(ident.pid, signal.SIGKILL)
            shutil.rmtree(job)

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise AssertionError("local tasks end by themselves")


class TestLocalConformance(AdapterConformance):
    @pytest.fixture
    def platform(self, work_dir: Path) -> LocalPlatform:
        return LocalPlatform(work_dir)

    @pytest.fixture
    async def adapter(self, work_dir: Path, wake: WakeSignal) -> AsyncIterator[LocalAdapter]:
        deps = AdapterDeps(data_dir=work_dir, wake=wake)
        async with LocalAdapter("local-conformance", LocalConfig(kill_grace_seconds=2), deps) as a:
            yield a

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return (
            "running",
            "exited-0",
            "exited-nonzero",
            "signalled",
            "cancelled",
            "start-failed",
            "vanished",
        )
