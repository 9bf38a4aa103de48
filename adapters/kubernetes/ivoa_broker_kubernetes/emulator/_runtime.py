"""The emulated kubelet's container runtime: a container is a local process.

* the command runs with the container's ``env`` and ``workingDir`` (default: a
  scratch directory of the pod), stdout and stderr into one log file;
* ``resources.limits.memory`` is a cgroup v1 memory controller limit where the
  host lets us create one (the kernel's OOM killer SIGKILLs the process and the
  container ends ``OOMKilled``, exit code 137), else an address-space rlimit
  (``RLIMIT_AS``: allocations fail, the process ends by itself, no OOMKilled);
* ``volumeMounts`` (``emptyDir``, ``persistentVolumeClaim``, ``hostPath``) are
  bind mounts in a private mount namespace (``unshare -m``); the mount point
  directory is created on the host when it is missing;
* termination is SIGTERM to the process group, SIGKILL after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shlex
import signal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")


def cgroups_usable() -> bool:
    probe = CGROUP_MEMORY / f"ivoa-k8s-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return (CGROUP_MEMORY / "memory.limit_in_bytes").exists()


def _mkdirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass
class Ended:
    exit_code: int
    reason: str  # Completed | Error | OOMKilled
    signal: int | None = None
    max_rss_bytes: int | None = None


@dataclass
class Container:
    argv: Sequence[str]
    env: Mapping[str, str]
    workdir: Path
    log_path: Path
    memory_limit: int | None = None
    mounts: Sequence[Mount] = ()
    use_cgroups: bool = True
    process: asyncio.subprocess.Process | None = None
    _cgroup: Path | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Start the process (raises OSError when the command cannot be found)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = list(self.argv)
        if self.mounts:
            script = "; ".join(
                f"mount --bind {shlex.quote(str(m.source))} {shlex.quote(m.target)}"
                + (f" && mount -o remount,bind,ro {shlex.quote(m.target)}" if m.read_only else "")
                for m in self.mounts
            )
            for m in self.mounts:
                _mkdirs(m.source, Path(m.target))
            argv = [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                f'set -e; {script}; exec "$@"',
                "sh",
                *argv,
            ]
        limit = self.memory_limit
        cgroup: Path | None = None
        if limit is not None and self.use_cgroups:
            cgroup = CGROUP_MEMORY / f"ivoa-k8s-{uuid.uuid4().hex[:12]}"
            cgroup.mkdir()
            (cgroup / "memory.limit_in_bytes").write_text(str(limit))
            with contextlib.suppress(OSError):
                (cgroup / "memory.swappiness").write_text("0")
            self._cgroup = cgroup

        def prepare() -> None:  # in the child, before exec
            os.setpgrp()
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))
            elif limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=dict(self.env),
                preexec_fn=prepare,
            )
        except BaseException:
            self._drop_cgroup()
            raise
        finally:
            log.close()

    async def wait(self) -> Ended:
        assert self.process is not None
        code = await self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the container's other processes
        oom, rss = self._read_cgroup()
        self._drop_cgroup()
        sig = -code if code < 0 else None
        exit_code = 128 + sig if sig is not None else code
        if oom:
            return Ended(137, "OOMKilled", signal.SIGKILL, rss)
        return Ended(exit_code, "Completed" if exit_code == 0 else "Error", sig, rss)

    def _read_cgroup(self) -> tuple[bool, int | None]:
        if self._cgroup is None:
            return False, None
        try:
            control = (self._cgroup / "memory.oom_control").read_text()
            rss = int((self._cgroup / "memory.max_usage_in_bytes").read_text())
        except OSError:
            return False, None
        kills = [ln.split()[1] for ln in control.splitlines() if ln.startswith("oom_kill ")]
        return bool(kills and kills[0] != "0"), rss

    def _drop_cgroup(self) -> None:
        if self._cgroup is not None:
            with contextlib.suppress(OSError):
                self._cgroup.rmdir()
            self._cgroup = None

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    async def terminate(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (the kubelet's order)."""
        if self.process is None or self.process.returncode is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
        except TimeoutError:
            self.signal(signal.SIGKILL)
