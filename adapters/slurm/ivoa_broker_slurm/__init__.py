"""ivoa-broker adapter ``slurm``: batch jobs on a Slurm cluster, through its CLI (on the
broker host or a login host over SSH) or through slurmrestd (JWT)."""

from __future__ import annotations

from ._adapter import SlurmAdapter
from ._config import Choice, SlurmConfig, SSHLogin

__all__ = ["Choice", "SSHLogin", "SlurmAdapter", "SlurmConfig"]
