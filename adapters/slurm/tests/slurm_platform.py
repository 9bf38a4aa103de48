"""The conformance kit's platform controller for the real test cluster.

What exists of a task on Slurm: the job while the controller holds it queued or running,
and its files in the job folder until cleanup. The controller looks with its own ``squeue``
and at the folder directly (the cluster runs on this machine). In CLI mode it injects real
Slurm failures through a :class:`FaultyRunner`; it ends no job at will: Slurm jobs end as
their commands say.
"""

from __future__ import annotations

from slurm_cluster import LocalCluster
from slurm_faults import FAULTS, OPS, FaultyRunner

from ivoa_broker.testing import Fault, PlatformControls


class SlurmPlatform:
    def __init__(
        self, cluster: LocalCluster, instance: str, job_root: str, runner: FaultyRunner | None
    ) -> None:
        self.cluster = cluster
        self.runner = runner
        self.prefix = f"ivoa-broker:{instance}:"
        self.job_root = job_root

    @property
    def controls(self) -> PlatformControls:
        faults = {op: frozenset(FAULTS) for op in OPS} if self.runner is not None else {}
        return PlatformControls(native_ids=True, finish=False, faults=faults)

    async def native_ids(self) -> set[str]:
        return self.cluster.live_jobs(self.prefix) | self.cluster.file_jobs(self.job_root)

    def fail_next(self, op: str, fault: Fault) -> None:
        if self.runner is None:
            raise NotImplementedError("no fault injection into slurmrestd")
        self.runner.fail_next(fault)

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("Slurm jobs end by themselves")
