"""Admission policy: which requests the local platform runs, and with what limits.

Everything here is cheap and side-effect free (a ``PATH`` lookup and a
``statvfs`` at most), so ``offers`` may call it on the event loop.

Resource rules (per job):

* ``cores``: default 1; refused above ``max_cores``. Not pinned: it only enters
  the CPU-time rule below.
* ``memory_bytes``: default ``default_memory_bytes`` (``None``: unlimited);
  refused above ``max_memory_bytes``; enforced as ``RLIMIT_AS`` (virtual
  memory) on the command and each of its processes.
* ``walltime_seconds``: when given, ``RLIMIT_CPU`` = ceil(walltime x cores)
  CPU-seconds per process (soft; SIGXCPU), hard limit ``kill_grace_seconds``
  (at least 1 s) later (SIGKILL). Wall-clock time itself is enforced by the
  broker's execution-duration reaper, not here.
* ``disk_bytes``: refused if more than the free space of the work directory;
  not enforced.
* ``gpus``: refused (there are none).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from ivoa_broker.protocol import ExecutionRequest, Resources

from ._config import LocalConfig
from ._states import Limits, human_bytes

__all__ = ["Policy"]


#: at most this many finds are kept (then they are all forgotten and found again)
_FOUND_KEPT = 256


def _bad_text(value: str) -> bool:
    return "\0" in value


class Policy:
    """The admission rules of one adapter instance (see the module docstring)."""

    def __init__(self, config: LocalConfig, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        #: (command, PATH) -> the file that PATH found for it (see _on_path)
        self._found: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------ environment

    def job_env(self, request: ExecutionRequest) -> dict[str, str]:
        """The command's environment, before the broker's own two variables are added:
        the ``pass_env`` variables of the broker's environment, then ``request.env``."""
        env = {k: os.environ[k] for k in self.config.pass_env if k in os.environ}
        env.update(request.env)
        return env

    def _env_problem(self, request: ExecutionRequest) -> str | None:
        for key, value in request.env.items():
            if not key or "=" in key or _bad_text(key):
                return f"the environment variable name {key!r} is not valid"
            if _bad_text(value):
                return f"the environment variable {key!r} holds a NUL character"
        return None

    def _executable_problem(self, request: ExecutionRequest) -> str | None:
        if any(_bad_text(arg) for arg in request.command):
            return "the command holds a NUL character"
        cmd = request.command[0]
        if not cmd:
            return "the command is empty"
        if "/" in cmd:
            if not os.path.isabs(cmd):
                return (
                    f"the command {cmd!r} is a relative path; give an absolute path or a "
                    "program name found on PATH"
                )
            if not os.path.isfile(cmd):
                return f"the command {cmd!r} does not exist on this machine"
            if not os.access(cmd, os.X_OK):
                return f"the command {cmd!r} is not executable"
            return None
        path = self.job_env(request).get("PATH", os.defpath)
        if not self._on_path(cmd, path):
            return f"the command {cmd!r} was not found on PATH on this machine"
        return None

    def _on_path(self, cmd: str, path: str) -> bool:
        """Whether ``PATH`` finds ``cmd``: the file found last time for this pair, if
        it is still an executable file (two system calls), else a full lookup.

        A full lookup tries each folder of ``PATH`` (about 20 calls on a usual
        ``PATH``, 0.3 ms on a machine busy with 200 jobs, twice per job: offer and
        submit). Only finds are kept (a command that was missing is looked up again
        every time); the file that runs is still chosen when the job starts.
        """
        key = (cmd, path)
        known = self._found.get(key)
        if known is not None and os.access(known, os.X_OK) and not os.path.isdir(known):
            return True
        found = shutil.which(cmd, path=path)
        if found is None:
            self._found.pop(key, None)
            return False
        if len(self._found) >= _FOUND_KEPT:
            self._found.clear()
        self._found[key] = found
        return True

    # -------------------------------------------------------------- resources

    def free_disk(self) -> int | None:
        """Free bytes where job directories go (``None`` if unknown)."""
        probe = self.work_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            st = os.statvfs(probe)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    def _resource_problem(self, res: Resources) -> str | None:
        if res.gpus > 0:
            return f"the local adapter has no GPUs (gpus={res.gpus} requested)"
        max_cores = self.config.effective_max_cores()
        if res.cores is not None and res.cores <= 0:
            return f"cores must be positive (cores={res.cores})"
        if res.cores is not None and res.cores > max_cores:
            return (
                f"the job asks for {res.cores:g} cores; the local platform allows at most "
                f"{max_cores:g} per job"
            )
        max_memory = self.config.effective_max_memory()
        if res.memory_bytes is not None and res.memory_bytes <= 0:
            return f"memory must be positive (memory_bytes={res.memory_bytes})"
        if res.memory_bytes is not None and res.memory_bytes > max_memory:
            return (
                f"the job asks for {human_bytes(res.memory_bytes)} of memory; the local "
                f"platform allows at most {human_bytes(max_memory)} per job"
            )
        if res.walltime_seconds is not None and res.walltime_seconds <= 0:
            return f"walltime must be positive (walltime_seconds={res.walltime_seconds})"
        if res.disk_bytes is not None:
            free = self.free_disk()
            if free is not None and res.disk_bytes > free:
                return (
                    f"the job asks for {human_bytes(res.disk_bytes)} of disk; "
                    f"{human_bytes(free)} is free in the local work directory"
                )
        return None

    # ------------------------------------------------------------------ rules

    def refusal(self, request: ExecutionRequest) -> str | None:
        """Why ``request`` cannot run here, in words for the user; ``None`` if it can."""
        if request.kind != "batch":
            return (
                f"the local adapter runs batch jobs only (kind={request.kind!r}); "
                "choose a platform that runs interactive sessions"
            )
        if request.image:
            return (
                f"the local adapter cannot run container images (image={request.image!r}); "
                "choose a platform that runs containers"
            )
        if request.notebook:
            return (
                f"the local adapter cannot open notebooks (notebook={request.notebook!r}); "
                "choose a platform that runs interactive sessions"
            )
        if not request.command:
            return "the local adapter needs a command to run, and none was given"
        return (
            self._resource_problem(request.resources)
            or self._env_problem(request)
            or self._executable_problem(request)
        )

    def grant(self, request: ExecutionRequest) -> tuple[Resources, Limits]:
        """What a job gets, and the rlimits that enforce it."""
        res = request.resources
        cores = float(res.cores) if res.cores is not None else 1.0
        memory = (
            res.memory_bytes if res.memory_bytes is not None else self.config.default_memory_bytes
        )
        cpu = math.ceil(res.walltime_seconds * cores) if res.walltime_seconds is not None else None
        granted = Resources(
            cores=cores,
            memory_bytes=memory,
            gpus=0,
            walltime_seconds=res.walltime_seconds,
            disk_bytes=res.disk_bytes,
        )
        return granted, Limits(memory_bytes=memory, cpu_seconds=cpu)

    def cpu_hard_seconds(self, limits: Limits) -> int | None:
        """The hard ``RLIMIT_CPU``: ``kill_grace_seconds`` (at least 1 s) after the soft one."""
        if limits.cpu_seconds is None:
            return None
        return limits.cpu_seconds + max(1, math.ceil(self.config.kill_grace_seconds))
