"""A Slurm batch job as the adapter submits it: options, script, and its two encodings
(``sbatch`` arguments for the CLI, the ``job`` object of slurmrestd's ``/job/submit``)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: PATH for the job when the submitting environment is not exported (``--export=NONE``)
JOB_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def job_files(job_root: str, native_id: str) -> tuple[str, str, str]:
    """stdout, stderr and the working folder of job ``native_id`` (all named by the Slurm id,
    so a Handle with nothing but the native id is enough to find and remove them)."""
    base = f"{job_root.rstrip('/')}/{native_id}"
    return f"{base}.stdout.txt", f"{base}.stderr.txt", base


@dataclass(frozen=True)
class JobSpec:
    """Everything ``sbatch`` is told. ``job_root`` is the cluster folder the job's files go in:
    ``<id>.stdout.txt``, ``<id>.stderr.txt`` and the working folder ``<id>/`` (the script
    makes it)."""

    name: str
    comment: str
    job_root: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    reservation: str | None = None
    cpus_per_task: int | None = None
    mem_mb: int | None = None
    gpus: int = 0
    time_minutes: int | None = None
    nodes: int | None = None
    ntasks: int | None = None

    @property
    def stdout(self) -> str:
        return job_files(self.job_root, "%j")[0]

    @property
    def stderr(self) -> str:
        return job_files(self.job_root, "%j")[1]

    def script(self) -> str:
        """The batch script: the environment, then ``exec`` of the command (whose exit is the
        job's)."""
        lines = [
            "#!/bin/sh",
            f"# ivoa-broker job {self.comment}",
            f': "${{PATH:={JOB_PATH}}}"',
            "export PATH",
        ]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(self.env.items())]
        workdir = shlex.quote(self.job_root.rstrip("/")) + '/"$SLURM_JOB_ID"'
        lines += [
            f"mkdir -p {workdir} && cd {workdir} || exit 1",
            "exec " + shlex.join(self.command),
        ]
        return "\n".join(lines) + "\n"

    def sbatch_args(self) -> list[str]:
        """Options for ``sbatch --parsable`` (the script comes on stdin)."""
        args = [
            f"--job-name={self.name}",
            f"--comment={self.comment}",
            f"--chdir={self.job_root}",
            f"--output={self.stdout}",
            f"--error={self.stderr}",
            # only PATH (not NONE: that makes slurmd load the login environment, su - user)
            f"--export=PATH={JOB_PATH}",
        ]
        options = {
            "partition": self.partition,
            "qos": self.qos,
            "account": self.account,
            "reservation": self.reservation,
            "cpus-per-task": self.cpus_per_task,
            "mem": f"{self.mem_mb}M" if self.mem_mb is not None else None,
            "gres": f"gpu:{self.gpus}" if self.gpus else None,
            "time": self.time_minutes,
            "nodes": self.nodes,
            "ntasks": self.ntasks,
        }
        args += [f"--{key}={value}" for key, value in options.items() if value is not None]
        return args

    def rest_job(self) -> dict[str, Any]:
        """The ``job`` object of ``POST /slurm/v0.0.3[78]/job/submit`` (``job_properties``)."""
        job: dict[str, Any] = {
            "name": self.name,
            "comment": self.comment,
            "current_working_directory": self.job_root,
            "standard_output": self.stdout,
            "standard_error": self.stderr,
            "environment": {"PATH": JOB_PATH},
        }
        optional: dict[str, Any] = {
            "partition": self.partition,
            "qos": self.qos,
            "account": self.account,
            "reservation": self.reservation,
            "cpus_per_task": self.cpus_per_task,
            "memory_per_node": self.mem_mb,
            "gres": f"gpu:{self.gpus}" if self.gpus else None,
            "time_limit": self.time_minutes,
            "nodes": self.nodes,
            "tasks": self.ntasks,
        }
        job.update({key: value for key, value in optional.items() if value is not None})
        return job
