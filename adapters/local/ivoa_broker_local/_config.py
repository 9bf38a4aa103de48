"""Configuration of a ``local`` adapter instance (the ``config:`` block)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

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


#: the schemes of an engine address in ``containers`` (those of DOCKER_HOST)
_ENGINE_SCHEMES = frozenset({"unix", "tcp", "ssh", "http", "https", "npipe"})


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
    containers: str = Field(
        default="auto",
        description=(
            "Who runs docker-container requests: 'auto' (this machine's Docker or Podman: "
            "DOCKER_HOST, else its API socket, if the ivoa-broker-docker plug-in is "
            "installed), 'off' (refused), or an engine address (unix:///run/podman/podman.sock, "
            "tcp://host:2376, ssh://user@host)."
        ),
    )
    container_config: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "The config of the embedded docker platform (its keys: docs/adapters/docker.md; "
            "validated at start-up), without `host` (that is `containers`)."
        ),
    )

    @field_validator("sandbox_paths")
    @classmethod
    def _absolute(cls, paths: tuple[Path, ...]) -> tuple[Path, ...]:
        for path in paths:
            if not path.is_absolute():
                raise ValueError(f"sandbox_paths must be absolute; got {str(path)!r}")
        return paths

    @field_validator("containers")
    @classmethod
    def _engine(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else None
        if value in ("auto", "off") or scheme in _ENGINE_SCHEMES:
            return value
        raise ValueError(
            'containers must be "auto", "off" or an engine address (unix:///path/to.sock, '
            f"tcp://host:port, ssh://user@host); got {value!r}"
        )

    @model_validator(mode="after")
    def _container_config(self) -> LocalConfig:
        """``container_config`` is checked by the docker plug-in's own model, now."""
        if not self.container_config:
            return self
        if "host" in self.container_config:
            raise ValueError(
                "container_config must not set host: the engine address is `containers`"
            )
        try:
            plugin = importlib.import_module("ivoa_broker_docker")
        except ImportError:
            if self.containers == "off":
                return self
            raise ValueError(
                "container_config is set but the plug-in ivoa-broker-docker is not installed "
                "(pip install 'ivoa-broker-local[containers]')"
            ) from None
        try:
            plugin.DockerConfig.model_validate(self.container_config)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"container_config is not a valid docker config: {problems}") from None
        return self

    def effective_max_cores(self) -> float:
        return self.max_cores if self.max_cores is not None else float(machine_cores())

    def effective_max_memory(self) -> int:
        if self.max_memory_bytes is not None:
            return self.max_memory_bytes
        return machine_memory_bytes()
