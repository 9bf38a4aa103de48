"""ExecutionRequest -> what to ask Slurm for: the job's needs, the extensions
(``slurm.partition``/``qos``/``account``/``reservation``), the command (in a container runner
when the request names an image), and the run time (``--time`` in minutes, rounded up)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ivoa_broker.protocol import ExecutionRequest, utcnow

from ._cluster import Needs
from ._config import SlurmConfig

NAMESPACE = "slurm"
EXTENSIONS = ("partition", "qos", "account", "reservation")
MB = 1024 * 1024


class Refused(ValueError):
    """The request cannot be served by this instance: the message says why."""


@dataclass(frozen=True)
class Plan:
    needs: Needs
    command: tuple[str, ...]
    partition: str | None
    qos: str | None
    account: str | None
    reservation: str | None
    ntasks: int | None

    @property
    def choices(self) -> dict[str, str | None]:
        return {
            "qos": self.qos,
            "account": self.account,
            "reservation": self.reservation,
        }


def minutes_left(
    request: ExecutionRequest, default: int | None, now: datetime | None = None
) -> int | None:
    """Run time in whole minutes (rounded up): from the deadline, else the walltime asked."""
    if request.deadline is not None:
        seconds = (request.deadline - (now or utcnow())).total_seconds()
        if seconds <= 0:
            raise Refused("the job's deadline has passed already")
        return max(1, math.ceil(seconds / 60))
    walltime = request.resources.walltime_seconds
    if walltime is not None:
        return max(1, math.ceil(walltime / 60))
    return default


def plan(request: ExecutionRequest, config: SlurmConfig) -> Plan:
    """What this request asks of Slurm; :class:`Refused` when it cannot be served."""
    if request.kind != "batch":
        raise Refused("Slurm runs batch jobs only, not interactive sessions")
    if not request.command:
        raise Refused("the request has no command to run")
    asked = request.extensions_for(NAMESPACE)
    unknown = sorted(set(asked) - set(EXTENSIONS))
    if unknown:
        raise Refused(
            f"unknown extension {NAMESPACE}.{unknown[0]} (known: "
            + ", ".join(f"{NAMESPACE}.{e}" for e in EXTENSIONS)
            + ")"
        )
    picked: dict[str, str | None] = {}
    for key in EXTENSIONS:
        try:
            picked[key] = getattr(config, key).pick(asked.get(key))
        except ValueError as exc:
            raise Refused(f"{NAMESPACE}.{key}: {exc}") from None
    command = request.command
    if request.image:
        if config.container_runner == "none":
            raise Refused(
                "this Slurm instance runs no container images (no container_runner configured)"
            )
        runner = config.container_runner_path or config.container_runner
        command = (runner, "exec", request.image, *command)
    res = request.resources
    needs = Needs(
        cores=max(1, math.ceil(res.cores)) if res.cores else 1,
        mem_mb=math.ceil(res.memory_bytes / MB) if res.memory_bytes else None,
        gpus=res.gpus,
        time_minutes=minutes_left(request, config.default_time_minutes),
        nodes=res.nodes or 1,
    )
    return Plan(
        needs=needs,
        command=command,
        partition=picked["partition"],
        qos=picked["qos"],
        account=picked["account"],
        reservation=picked["reservation"],
        ntasks=res.tasks,
    )
