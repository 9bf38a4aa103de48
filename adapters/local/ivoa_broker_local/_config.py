"""Configuration of a ``local`` adapter instance (the ``config:`` block)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ivoa_broker.protocol import AdapterConfig

__all__ = ["DEFAULT_PASS_ENV", "LocalConfig", "machine_cores", "machine_memory_bytes"]

#: Variables of the broker's own environment a job inherits by default. Everything
#: else (tokens, credentials, ``PYTHONPATH``) stays with the broker.
DEFAULT_PASS_ENV: tuple[str, ...] = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
)


def machine_cores() -> int:
    """CPUs this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def machine_memory_bytes() -> int:
    """Physical memory of the machine in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class LocalConfig(AdapterConfig):
    """Settings of one ``local`` platform instance.

    ``None`` for a maximum means "the size of this machine". Limits are per job;
    ``max_jobs`` bounds how many jobs this instance runs at once (``submit``
    raises ``NoCapacity`` beyond it).
    """

    work_dir: Path | None = Field(
        default=None,
        description="Where job directories live; default: the instance's data_dir.",
    )
    max_cores: float | None = Field(
        default=None, gt=0, description="Largest `cores` one job may ask for."
    )
    max_memory_bytes: int | None = Field(
        default=None, gt=0, description="Largest `memory_bytes` one job may ask for."
    )
    default_memory_bytes: int | None = Field(
        default=None,
        gt=0,
        description="RLIMIT_AS for jobs that ask for no memory; None: no memory limit.",
    )
    max_jobs: int = Field(default=64, ge=1, description="Jobs running at once.")
    kill_grace_seconds: float = Field(
        default=10.0, ge=0, description="SIGTERM -> SIGKILL delay when cancelling."
    )
    pass_env: tuple[str, ...] = Field(
        default=DEFAULT_PASS_ENV,
        description="Names of broker environment variables passed on to jobs.",
    )
    log_tail_bytes: int = Field(
        default=64 * 1024, ge=0, description="How much of stdout/stderr `logs` returns."
    )
    error_tail_bytes: int = Field(
        default=1000, ge=0, description="How much of stderr goes into an ERROR message."
    )
    max_result_files: int = Field(
        default=1000, ge=0, description="Most files of out/ listed as results."
    )
    sandbox: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description=(
            "How jobs are isolated: 'bwrap' (bubblewrap; the default: jobs see only their "
            "own directory and the system's read-only parts) or 'none' (jobs run as the "
            "broker's user and can read everything it can: an explicit opt-out)."
        ),
    )
    bwrap: str = Field(
        default="bwrap", description="The bubblewrap executable (a name on PATH, or a path)."
    )
    sandbox_network: bool = Field(
        default=True, description="Whether sandboxed jobs share the machine's network."
    )
    sandbox_paths: tuple[Path, ...] = Field(
        default=(),
        description="More absolute paths sandboxed jobs see read-only (software, data).",
    )
    python: str | None = Field(
        default=None,
        description="Interpreter that runs the job supervisor; default: the broker's own.",
    )

    @field_validator("sandbox_paths")
    @classmethod
    def _absolute(cls, paths: tuple[Path, ...]) -> tuple[Path, ...]:
        for path in paths:
            if not path.is_absolute():
                raise ValueError(f"sandbox_paths must be absolute; got {str(path)!r}")
        return paths

    def effective_max_cores(self) -> float:
        return self.max_cores if self.max_cores is not None else float(machine_cores())

    def effective_max_memory(self) -> int:
        if self.max_memory_bytes is not None:
            return self.max_memory_bytes
        return machine_memory_bytes()
