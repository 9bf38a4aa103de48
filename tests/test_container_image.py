"""deploy/Containerfile builds with the project's own script (deploy/image.sh) and runs: a
non-root broker whose HEALTHCHECK passes, answering /healthz and running a job, all with curl.

Podman runs rootful with all its state in this run's temporary folder (``--root``,
``--runroot``, ``--tmpdir``, overlay storage, a private containers.conf), so two runs never meet
and the machine's own images are not touched. The Debian base is made once per machine by
deploy/base-image.sh (debootstrap, a few minutes) and cached as
``$IVOA_BROKER_IMAGE_CACHE/base-<release>.tar``; later runs only import it and build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
TOKEN = "0123456789abcdef0123456789abcdef"
CACHE = Path(os.environ.get("IVOA_BROKER_IMAGE_CACHE", "/var/cache/ivoa-broker"))

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "rootful podman and debootstrap need root"
    for tool in ("podman", "runc", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/install.d/30-containers.sh)"
    release = _release()
    if shutil.which("debootstrap") is None and not (CACHE / f"base-{release}.tar").exists():
        return "debootstrap is not installed (.ci/install.d/35-debootstrap.sh)"
    return None


def _release() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or "bookworm"
    return "bookworm"


@dataclass
class Engine:
    base: Path

    def argv(self) -> list[str]:
        b = self.base
        return [
            "podman",
            "--root", f"{b}/root",
            "--runroot", f"{b}/run",
            "--tmpdir", f"{b}/tmp",
            "--storage-driver", "overlay",
            "--network-config-dir", f"{b}/net",
            "--cgroup-manager", "cgroupfs",
            "--runtime", "runc",
            "--events-backend", "file",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.base / "containers.conf"),
            "TMPDIR": str(self.base / "tmp"),
        }

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, stderr: bool = False
    ) -> str:
        done = subprocess.run(
            [*self.argv(), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout + (done.stderr if stderr else "")


def _engine(base: Path) -> Engine:
    for d in ("root", "run", "tmp", "net"):
        (base / d).mkdir(parents=True)
    hard = subprocess.run(
        ["sh", "-c", "ulimit -Hn"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # root here may lack CAP_SYS_RESOURCE (podman's default nofile limit fails) and crun
    # refuses hybrid cgroup layouts: the same two settings as adapters/docker's engines
    (base / "containers.conf").write_text(
        f'[containers]\ndefault_ulimits = ["nofile={hard}:{hard}", "nproc=4096:4096"]\n'
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    return Engine(base)


@dataclass
class Running:
    engine: Engine
    name: str
    url: str
    image: str


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("image")
    # podman refuses a runroot longer than 50 characters, and xdist's temporary folders are
    # longer: the engine's state lives in a short private folder of its own
    state = Path(tempfile.mkdtemp(prefix="ivbi-", dir="/tmp"))
    engine = _engine(state / "podman")
    image = f"localhost/ivoa-broker-test:{uuid.uuid4().hex[:8]}"
    built = subprocess.run(
        ["bash", str(DEPLOY / "image.sh"), image],
        capture_output=True,
        text=True,
        env={**engine.env(), "PODMAN": " ".join(engine.argv()), "PYTHON": sys.executable},
        timeout=1800,  # the first run on a machine makes the Debian base (debootstrap)
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    tokens = base / "tokens.txt"
    tokens.write_text(f"{TOKEN} alice\n")
    os.chown(tokens, 10001, 10001)  # the image's unprivileged user reads it
    tokens.chmod(0o600)
    port = free_port()
    name = f"ivoa-broker-{uuid.uuid4().hex[:8]}"
    engine.run(
        "run", "--detach", "--name", name, "--network", "host",
        "--env", f"IVOA_BROKER__SERVER__PORT={port}",
        "--env", "IVOA_BROKER__SERVER__HOST=127.0.0.1",
        "--volume", f"{tokens}:/run/secrets/ivoa-broker-tokens:ro",
        image,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(engine, name, url)
        yield Running(engine, name, url, image)
    finally:
        engine.run("rm", "--force", "--time", "5", name, check=False)
        engine.run("rmi", "--all", "--force", check=False, timeout=300)
        shutil.rmtree(state, ignore_errors=True)


def _wait_healthy(engine: Engine, name: str, url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = engine.run("inspect", "--format", "{{.State.Status}}", name).strip()
        if state != "running":
            logs = engine.run("logs", name, stderr=True)
            raise AssertionError(f"container {state}: {logs[-3000:]}")
        if _curl(f"{url}/healthz", check=False) == "ok\n":
            return
        time.sleep(0.2)
    logs = engine.run("logs", name, stderr=True)
    raise AssertionError(f"no /healthz answer: {logs[-3000:]}")


def _curl(url: str, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30", *args, url],
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def test_healthz_answers_and_the_healthcheck_passes(container: Running) -> None:
    assert _curl(f"{container.url}/healthz") == "ok\n"
    # the image's HEALTHCHECK (kept by the docker format) runs inside the container
    check = subprocess.run(
        [*container.engine.argv(), "healthcheck", "run", container.name],
        capture_output=True,
        text=True,
        env=container.engine.env(),
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = json.loads(container.engine.run("image", "inspect", container.image))[0]
    healthcheck = config.get("Healthcheck") or config["Config"]["Healthcheck"]
    test = healthcheck["Test"]
    assert "/healthz" in " ".join(test)


def test_the_broker_runs_as_an_unprivileged_user(container: Running) -> None:
    uid = container.engine.run("exec", container.name, "id", "-u").strip()
    assert uid == "10001"
    config = json.loads(container.engine.run("image", "inspect", container.image))[0]
    assert config["Config"]["User"] == "10001:10001"


def test_a_job_runs_through_the_container(container: Running) -> None:
    auth = ["--header", f"Authorization: Bearer {TOKEN}"]
    assert _curl(f"{container.url}/jobs", "--output", "/dev/null", "--write-out",
                 "%{http_code}") == "401"  # fmt: skip
    headers = _curl(
        f"{container.url}/jobs", *auth, "--dump-header", "-", "--output", "/dev/null",
        "--data", "cmd=echo", "--data", "args=from-the-container", "--data", "PHASE=RUN",
    )  # fmt: skip
    location = next(
        line.split(":", 1)[1].strip()
        for line in headers.splitlines()
        if line.lower().startswith("location:")
    )
    phase = ""
    for _ in range(10):
        job = json.loads(
            _curl(f"{location}?WAIT=10", *auth, "--header", "Accept: application/json")
        )
        phase = job["phase"]
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
    assert phase == "COMPLETED", job
    stdout = _curl(f"{location}/results/stdout", *auth)
    assert stdout == "from-the-container\n"
    logs = container.engine.run("logs", container.name, stderr=True)
    assert TOKEN not in logs
    assert '"event": "transition"' in logs
