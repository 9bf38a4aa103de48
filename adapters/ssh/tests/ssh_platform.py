"""Platform controllers for the SSH adapter's conformance tests.

``LocalSSHPlatform`` inspects the remote work directory directly (the test
sshd runs on this machine, so "remote" files are local) and injects faults
through the :class:`FaultProxy` the adapter connects through.
``RemoteSSHPlatform`` (live mode) only lists the work directory over its own
SSH connection. Neither ends tasks at will: SSH jobs end as their commands say.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
from pathlib import Path

import asyncssh
from fault_proxy import FaultProxy
from ivoa_broker_ssh import SSHConfig

from ivoa_broker.testing import Fault, PlatformControls

_NET = frozenset({Fault.CONNECTION, Fault.AUTH, Fault.GARBAGE})
_FAULTS = {
    "health": _NET | {Fault.TIMEOUT},
    "submit": _NET | {Fault.TIMEOUT},
    "status": _NET | {Fault.TIMEOUT, Fault.NOT_FOUND},
    "cancel": _NET | {Fault.NOT_FOUND},
    "cleanup": _NET | {Fault.NOT_FOUND},
    "logs": _NET,
    "list_native": _NET,
}


class LocalSSHPlatform:
    def __init__(self, work_dir: Path, proxy: FaultProxy) -> None:
        self.work_dir = work_dir
        self.proxy = proxy

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults=_FAULTS)

    async def native_ids(self) -> set[str]:
        if not self.work_dir.is_dir():
            return set()
        return {p.name for p in self.work_dir.iterdir() if (p / "job_id").is_file()}

    async def fail_next(self, op: str, fault: Fault) -> None:
        proxy = self.proxy
        match fault:
            case Fault.CONNECTION:
                proxy.next_mode = "refuse"
                proxy.break_all()
            case Fault.GARBAGE:
                proxy.next_mode = "garbage"
                proxy.break_all()
            case Fault.AUTH:
                proxy.next_mode = "auth"
                proxy.break_all()
            case Fault.TIMEOUT:
                proxy.next_mode = "stall"
                proxy.stall_all()
            case Fault.NOT_FOUND:
                self._purge()
            case _:
                raise NotImplementedError(f"cannot inject {fault} into {op}")
        for _ in range(5):  # let the adapter's connection see the reset
            await asyncio.sleep(0.01)

    def _purge(self) -> None:
        """The platform loses every job: processes killed, directories gone."""
        for job in list(self.work_dir.iterdir()) if self.work_dir.is_dir() else []:
            pid = (job / "pid").read_text().strip() if (job / "pid").is_file() else ""
            if pid.isdigit():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGKILL)
            shutil.rmtree(job, ignore_errors=True)

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("SSH jobs end by themselves")


class RemoteSSHPlatform:
    def __init__(self, config: SSHConfig) -> None:
        self.config = config

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        cfg = self.config
        async with asyncssh.connect(
            cfg.host,
            port=cfg.port,
            username=cfg.username,
            client_keys=[str(cfg.key_file)] if cfg.key_file else (),
            known_hosts=str(cfg.known_hosts) if cfg.known_hosts else (),
        ) as conn:
            done = await conn.run(
                f"cd {shlex.quote(cfg.work_dir)} 2>/dev/null && "
                'for d in */; do [ -f "$d/job_id" ] && echo "${d%/}"; done; true',
                check=True,
            )
        return set(str(done.stdout).split())

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("a live host takes no fault injection")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("SSH jobs end by themselves")
