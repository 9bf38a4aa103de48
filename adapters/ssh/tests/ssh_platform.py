"""Platform controllers for the SSH adapter's conformance tests.

``LocalSSHPlatform`` inspects the remote work directory directly: the test
sshd runs on this machine, so "remote" files are local. ``RemoteSSHPlatform``
(live mode) lists it over its own SSH connection. Neither can inject faults
nor end tasks at will: SSH jobs end by themselves, as their commands say.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import asyncssh

from ivoa_broker.testing import Fault, PlatformControls
from ivoa_broker_ssh import SSHConfig


class LocalSSHPlatform:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        if not self.work_dir.is_dir():
            return set()
        return {p.name for p in self.work_dir.iterdir() if (p / "job_id").is_file()}

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError(f"cannot inject {fault} into {op}")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("SSH jobs end by themselves")


class RemoteSSHPlatform(LocalSSHPlatform):
    def __init__(self, config: SSHConfig) -> None:
        super().__init__(Path(config.work_dir))
        self.config = config

    async def native_ids(self) -> set[str]:
        cfg = self.config
        async with asyncssh.connect(
            cfg.host, port=cfg.port, username=cfg.username,
            client_keys=[str(cfg.key_file)] if cfg.key_file else (),
            known_hosts=str(cfg.known_hosts) if cfg.known_hosts else (),
        ) as conn:
            done = await conn.run(
                f"cd {shlex.quote(cfg.work_dir)} 2>/dev/null && "
                "for d in */; do [ -f \"$d/job_id\" ] && echo \"${d%/}\"; done; true",
                check=True,
            )
        return set(str(done.stdout).split())
