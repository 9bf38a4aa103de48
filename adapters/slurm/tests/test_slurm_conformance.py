"""The conformance kit against the real one-node cluster, in both client modes:
CLI (sbatch/squeue/sacct/scancel on this host) and REST (slurmrestd with a JWT)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_slurm import SlurmAdapter, SlurmConfig
from slurm_cluster import LocalCluster, cli_config, rest_config
from slurm_faults import FaultyRunner
from slurm_platform import SlurmPlatform

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, WakeSignal

STATES = (
    "PENDING",
    "RUNNING",
    "COMPLETING",
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
    "SUSPENDED",
    "REQUEUED",
    "RESIZING",
    "REQUEUE_HOLD",
)


class SlurmConformance(AdapterConformance):
    @pytest.fixture
    def instance(self) -> str:
        return f"slurm-{uuid.uuid4().hex[:6]}"

    @pytest.fixture
    def max_wait(self) -> float:
        return 90.0

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return STATES

    @pytest.fixture
    def runner(self) -> FaultyRunner | None:
        return None

    @pytest.fixture
    async def adapter(
        self,
        instance: str,
        adapter_config: SlurmConfig,
        tmp_path: Path,
        wake: WakeSignal,
        runner: FaultyRunner | None,
    ) -> AsyncIterator[SlurmAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        if runner is not None:
            deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake, run=runner)
        async with SlurmAdapter(instance, adapter_config, deps) as adapter:
            yield adapter

    @pytest.fixture
    def platform(
        self,
        slurm: LocalCluster,
        instance: str,
        adapter_config: SlurmConfig,
        runner: FaultyRunner | None,
    ) -> SlurmPlatform:
        return SlurmPlatform(slurm, instance, adapter_config.job_root, runner)


class TestSlurmCliConformance(SlurmConformance):
    """The CLI runs as the cluster's ordinary test user (as a broker's service account would):
    slurmd launches root's jobs seconds later than a user's, which 20 concurrent jobs feel."""

    @pytest.fixture
    def adapter_config(self, slurm: LocalCluster) -> SlurmConfig:
        return cli_config(slurm, owner=slurm.user)

    @pytest.fixture
    def runner(self, slurm: LocalCluster) -> Iterator[FaultyRunner]:
        folder = slurm.base / "faults" / uuid.uuid4().hex[:8]  # readable by the test user
        faulty = FaultyRunner(slurm.slurm_conf, folder, user=slurm.user)
        yield faulty
        faulty.close()


class TestSlurmRestConformance(SlurmConformance):
    @pytest.fixture
    def adapter_config(self, slurm: LocalCluster) -> SlurmConfig:
        return rest_config(slurm)

    @pytest.fixture
    def known_secret(self, slurm: LocalCluster) -> str:
        return slurm.token

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"mode": "rest", "rest_user": "someone", "rest_token": "a-jwt"}
