"""The conformance kit's platform controller for the real test cluster.

What exists of a task on Slurm: the job while the controller holds it queued or running,
and its files in the job folder until cleanup. The controller looks with its own ``squeue``
and at the folder directly (the cluster runs on this machine); it injects no faults and
ends no job at will: Slurm jobs end as their commands say.
"""

from __future__ import annotations

from slurm_cluster import LocalCluster

from ivoa_broker.testing import Fault, PlatformControls


class SlurmPlatform:
    def __init__(self, cluster: LocalCluster, instance: str, job_root: str) -> None:
        self.cluster = cluster
        self.prefix = f"ivoa-broker:{instance}:"
        self.job_root = job_root

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        return self.cluster.live_jobs(self.prefix) | self.cluster.file_jobs(self.job_root)

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("no fault injection into the real cluster")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("Slurm jobs end by themselves")
