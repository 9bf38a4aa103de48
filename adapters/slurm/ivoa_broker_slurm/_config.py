"""The ``config:`` block of a ``plugin: slurm`` instance."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ivoa_broker.protocol import AdapterConfig

#: OpenAPI versions of slurmrestd this adapter speaks (Slurm 21.08-22.05)
RestVersion = Literal["v0.0.37", "v0.0.38"]


class Choice(BaseModel):
    """A namespaced extension (``slurm.partition``, ...): its default and allow-list.

    ``allowed`` empty means "whatever the cluster has"; ``default`` None means
    "let Slurm choose" (the default partition, the user's default account, ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str | None = None
    allowed: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _default_is_allowed(self) -> Choice:
        if self.default is not None and self.allowed and self.default not in self.allowed:
            raise ValueError(f"default {self.default!r} is not in allowed {list(self.allowed)}")
        return self

    def pick(self, asked: str | None) -> str | None:
        """The value to use for a request asking ``asked`` (ValueError: not allowed)."""
        value = asked if asked is not None else self.default
        if value is not None and self.allowed and value not in self.allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(self.allowed)}")
        return value


class SSHLogin(BaseModel):
    """A login host: the CLI runs there over SSH (the ``ssh`` plug-in's transport)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str | None = None
    key_file: Path | None = Field(default=None, repr=False)
    known_hosts: Path | None = None
    accept_unknown_host_keys: bool = False


class SlurmConfig(AdapterConfig):
    """How to reach one Slurm cluster and what its jobs may ask for.

    ``mode``: ``cli`` runs ``sbatch``/``squeue``/``sacct``/``scancel``/``sinfo``
    on the broker host (or on ``ssh`` login host); ``rest`` talks to slurmrestd
    at ``rest_url`` with a JWT (``rest_token``, user ``rest_user``).

    ``job_root`` is the folder on the cluster holding one folder per job (the
    batch script's working directory, stdout and stderr); it must be shared by
    the login and compute nodes. In ``rest`` mode the broker reads results and
    removes job folders itself, through ``local_job_root``: the same folder as
    mounted on the broker host (default: the same path).

    ``env`` is set for every CLI command (``SLURM_CONF`` for a cluster whose
    configuration is not in ``/etc/slurm``). ``container_runner`` is how a job
    with an image runs: ``apptainer``/``singularity`` (``<runner> exec IMAGE
    cmd...``) or ``none`` (requests with an image get no offer).
    ``accounting``: where jobs that left ``squeue`` are looked up: ``auto``
    (``sacct`` when the cluster has slurmdbd, else the job completion log with
    ``sacct -c`` when ``JobCompType=jobcomp/filetxt``), or forced.
    ``run_as``: ``service`` submits everything as the adapter's own user;
    ``sudo`` runs the CLI as the request's platform account
    (``identity`` mapping) through ``sudo -n -u ACCOUNT``.
    """

    mode: Literal["cli", "rest"] = Field(
        default="cli", description="cli: the Slurm commands; rest: slurmrestd with a JWT"
    )
    # cli mode
    env: dict[str, str] = Field(
        default_factory=dict, description="environment of every CLI command (SLURM_CONF, ...)"
    )
    ssh: SSHLogin | None = Field(
        default=None,
        description="run the CLI on this login host (host, port, username, key_file, known_hosts)",
    )
    command_timeout: float = Field(
        default=30.0, gt=0, description="seconds one command or REST call may take"
    )
    run_as: Literal["service", "sudo"] = Field(
        default="service",
        description="service: submit as the adapter's user; sudo: as the owner's platform account",
    )
    # rest mode
    rest_url: str = Field(default="http://127.0.0.1:6820", description="slurmrestd base URL")
    rest_version: RestVersion = Field(default="v0.0.38", description="OpenAPI plug-in version")
    rest_user: str | None = Field(default=None, description="X-SLURM-USER-NAME")
    rest_token: SecretStr | None = Field(
        default=None, description="X-SLURM-USER-TOKEN (scontrol token)"
    )
    # both
    job_root: str = Field(
        default="/tmp/ivoa-broker-slurm",
        pattern=r"^/[^\n'\\]*$",
        description="cluster folder for job files (shared by login and compute nodes)",
    )
    local_job_root: Path | None = Field(
        default=None, description="rest mode: job_root as mounted on the broker host"
    )
    name_prefix: str = Field(
        default="ivb-", pattern=r"^[A-Za-z0-9_.-]{0,16}$", description="job name = prefix + job id"
    )
    partition: Choice = Field(default=Choice(), description="slurm.partition default/allowed")
    qos: Choice = Field(default=Choice(), description="slurm.qos default/allowed")
    account: Choice = Field(default=Choice(), description="slurm.account default/allowed")
    reservation: Choice = Field(default=Choice(), description="slurm.reservation default/allowed")
    accounting: Literal["auto", "sacct", "jobcomp", "none"] = Field(
        default="auto", description="where jobs that left squeue are looked up"
    )
    container_runner: Literal["none", "apptainer", "singularity"] = Field(
        default="none", description="how images run: <runner> exec IMAGE cmd..."
    )
    container_runner_path: str | None = Field(
        default=None, description="the runner's executable (default: its name)"
    )
    offer_seconds: float = Field(default=300.0, gt=0, description="offer validity")
    #: run time asked when a request names none (minutes; None: the partition's default)
    default_time_minutes: int | None = Field(
        default=None, gt=0, description="--time when a request names no run time"
    )

    @model_validator(mode="after")
    def _check_mode(self) -> SlurmConfig:
        if self.mode == "rest" and (self.rest_user is None or self.rest_token is None):
            raise ValueError("mode='rest' needs 'rest_user' and 'rest_token'")
        if self.mode == "rest" and self.ssh is not None:
            raise ValueError("'ssh' is for mode='cli' only")
        return self

    @property
    def broker_job_root(self) -> Path:
        """``job_root`` as the broker host sees it (rest mode)."""
        return self.local_job_root or Path(self.job_root)
