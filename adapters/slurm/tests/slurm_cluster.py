"""Start and stop the project's one-node test cluster (``cluster/slurm-up.sh``) on free ports
in a fresh state folder, and look at it from outside the adapter (for the platform controller)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from ivoa_broker_slurm import SlurmConfig
from pydantic import SecretStr

CLUSTER_DIR = Path(__file__).resolve().parents[1] / "cluster"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot run here (not installed, not root)."""


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class LocalCluster:
    base: Path
    env: dict[str, str]

    @property
    def slurm_conf(self) -> str:
        return self.env["SLURM_CONF"]

    @property
    def job_root(self) -> str:
        return self.env["SLURM_JOB_ROOT"]

    @property
    def rest_url(self) -> str:
        return self.env["SLURMRESTD_URL"]

    @property
    def token(self) -> str:
        return self.env["SLURM_JWT_TOKEN"]

    @property
    def user(self) -> str:
        return self.env["SLURM_TEST_USER"]

    def command(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env={**os.environ, "SLURM_CONF": self.slurm_conf, "SLURM_TIME_FORMAT": "%s"},
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def live_jobs(self, comment_prefix: str) -> set[str]:
        """Jobs queued or running (or completing) whose comment starts with ``comment_prefix``."""
        done = self.command("squeue", "--json", "--states=all")
        found = set()
        for job in json.loads(done.stdout)["jobs"]:
            state = job["job_state"]
            if str(job.get("comment", "")).startswith(comment_prefix) and state in (
                "PENDING",
                "RUNNING",
                "COMPLETING",
                "CONFIGURING",
                "SUSPENDED",
                "REQUEUED",
            ):
                found.add(str(job["job_id"]))
        return found

    def file_jobs(self, root: str | None = None) -> set[str]:
        """Slurm job ids that still have files in the job folder."""
        folder = Path(root or self.job_root)
        if not folder.is_dir():
            return set()
        return {p.name.split(".")[0] for p in folder.iterdir() if p.name.split(".")[0].isdigit()}

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(CLUSTER_DIR / "slurm-down.sh")],
            env={**os.environ, "SLURM_BASE": str(self.base)},
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def start_cluster() -> LocalCluster:
    if os.geteuid() != 0:
        raise SlurmUnavailable("the test cluster runs its daemons as root")
    if shutil.which("slurmctld", path="/usr/sbin:/usr/bin") is None:
        raise SlurmUnavailable("Slurm is not installed (.ci/install.d/20-slurm.sh)")
    base = Path(tempfile.mkdtemp(prefix="ivb-slurm-", dir="/tmp"))
    ctld, slurmd, dbd, db, rest = free_ports(5)
    env = {
        **os.environ,
        "SLURM_BASE": str(base),
        "SLURM_CTLD_PORT": str(ctld),
        "SLURMD_PORT": str(slurmd),
        "SLURM_DBD_PORT": str(dbd),
        "SLURM_DB_PORT": str(db),
        "SLURM_REST_PORT": str(rest),
    }
    cluster = LocalCluster(base, {})
    done = subprocess.run(
        ["bash", str(CLUSTER_DIR / "slurm-up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        logs = (
            "".join(
                f"\n--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                for p in sorted((base / "log").glob("*.log"))
            )
            if (base / "log").is_dir()
            else ""
        )
        cluster.stop()
        raise RuntimeError(f"slurm-up.sh failed ({done.returncode}): {done.stderr[-3000:]}{logs}")
    for line in (base / "env").read_text().splitlines():
        key, _, value = line.partition("=")
        cluster.env[key] = value
    return cluster


def job_root(cluster: LocalCluster, owner: str | None = None) -> str:
    """A fresh job folder under the cluster's (one per test), owned by ``owner``."""
    path = Path(cluster.job_root) / uuid.uuid4().hex[:10]
    path.mkdir(mode=0o755)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return str(path)


def cli_config(cluster: LocalCluster, owner: str | None = None, **changes: object) -> SlurmConfig:
    return SlurmConfig.model_validate(
        {
            "mode": "cli",
            "env": {"SLURM_CONF": cluster.slurm_conf},
            "job_root": job_root(cluster, owner=owner),
            "command_timeout": 20.0,
            **changes,
        }
    )


def rest_config(cluster: LocalCluster, **changes: object) -> SlurmConfig:
    return SlurmConfig.model_validate(
        {
            "mode": "rest",
            "rest_url": cluster.rest_url,
            "rest_user": cluster.user,
            "rest_token": SecretStr(cluster.token),
            "job_root": job_root(cluster, owner=cluster.user),
            "command_timeout": 20.0,
            **changes,
        }
    )
