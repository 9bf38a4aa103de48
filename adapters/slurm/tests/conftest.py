"""Fixtures: the project's real one-node Slurm cluster, started once per test run
(``cluster/slurm-up.sh``: munge, MariaDB + slurmdbd, slurmctld, slurmd, slurmrestd with JWT)
on free ports in a fresh state folder, and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slurm_cluster import LocalCluster, SlurmUnavailable, start_cluster


@pytest.fixture(scope="session")
def slurm() -> Iterator[LocalCluster]:
    try:
        cluster = start_cluster()
    except SlurmUnavailable as exc:
        pytest.skip(f"no Slurm for the Slurm adapter tests: {exc}")
    yield cluster
    cluster.stop()
