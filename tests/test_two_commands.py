"""The README's two commands, run as a new user would: in a throwaway clone, with the
system's own ``python3`` (Debian's, which refuses ``pip install`` outside a venv).

``make serve`` must create the project's ``.venv``, serve the local platform with no
configuration and run a job; a second ``make serve`` must not re-install; ``make test``
must run the suite's own runner (here on a small selection, to stay quick).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.server import free_port

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.slow


def _system_python_with_venv() -> bool:
    if not SYSTEM_PYTHON.exists() or shutil.which("make") is None:
        return False
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import ensurepip, venv"], capture_output=True, check=False
    )
    return probe.returncode == 0


needs_system_python = pytest.mark.skipif(
    not _system_python_with_venv(),
    reason="needs Debian's /usr/bin/python3 with python3-venv, and make "
    "(apt-get install python3-venv make)",
)


def _env() -> dict[str, str]:
    """The environment of a fresh login: the system Python first on PATH, no venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["PYTHON"] = str(SYSTEM_PYTHON)
    env["IVOA_XSD_DIR"] = str(ROOT.parent / "shared" / "ivoa-xsd")
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the committed tree (what a new user gets from ``git clone``)."""
    where = tmp_path_factory.mktemp("two-commands") / "ivoa-broker"
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(where)],
        check=True,
        capture_output=True,
    )
    return where


def _serve(clone: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            ["make", "serve", f"ARGS=--port {port}"],
            cwd=clone,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"make serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/availability", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"make serve did not answer within {timeout:g} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@needs_system_python
def test_make_serve_on_the_system_python_serves_and_runs_a_job(clone: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = clone.parent / "serve-1.log"
    proc = _serve(clone, port, log)
    try:
        _wait_ready(proc, url, log, timeout=300)
        created = httpx.post(
            f"{url}/jobs",
            data={"cmd": "sh", "args": ["-c", "echo made-by-make-serve"], "PHASE": "RUN"},
        )
        assert created.status_code == 303, created.text
        job = created.headers["location"]
        body = httpx.get(f"{job}?WAIT=20", headers={"Accept": "application/json"}).json()
        for _ in range(10):
            if body["phase"] in ("COMPLETED", "ERROR", "ABORTED"):
                break
            body = httpx.get(f"{job}?WAIT=20", headers={"Accept": "application/json"}).json()
        assert body["phase"] == "COMPLETED", body
    finally:
        _stop(proc)
    assert (clone / ".venv" / "bin" / "python").exists()
    assert (clone / "broker.db").exists()

    # the second start reuses the venv: no pip run, and it is up quickly
    log2 = clone.parent / "serve-2.log"
    proc = _serve(clone, port, log2)
    try:
        _wait_ready(proc, url, log2, timeout=60)
    finally:
        _stop(proc)
    assert "pip install" not in log2.read_text()


@needs_system_python
@pytest.mark.skipif(os.geteuid() != 0, reason="make test installs platforms as root")
def test_make_test_runs_the_suite_runner_in_the_clone(clone: Path) -> None:
    done = subprocess.run(
        ["make", "test", "ARGS=tests/test_units.py -q -p no:cacheprovider"],
        cwd=clone,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # pip's build warnings go to stderr and make's own "Leaving directory" lines to
    # stdout; pytest's summary is the last line pytest wrote
    summary = [
        line
        for line in done.stdout.splitlines()
        if line.strip() and not re.match(r"make(\[\d+\])?: ", line)
    ]
    assert summary and re.search(r"\b\d+ passed\b", summary[-1]), output[-2000:]
