"""The plug-in seam, proven: ivoa-broker-ssh installed into a fresh virtual environment
like any third-party package is discovered by entry point and runs a job through the
broker, with no change to the core (adapters/ssh/scripts/plugin-proof.sh)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "plugin-proof.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_plugin_installed_in_fresh_venv_serves_a_job(tmp_path: Path) -> None:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("no OpenSSH server (apt-get install openssh-server)")
    log = tmp_path / "proof.log"
    with log.open("w") as sink:  # a file, not a pipe: servers started by the script inherit it
        result = subprocess.run(
            ["bash", str(SCRIPT), str(tmp_path / "proof")],
            env={**os.environ, "PORT": str(_free_port())},
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, timeout=900,
        )
    out = log.read_text()
    assert result.returncode == 0, out[-4000:]
    assert "[ivoa-broker-ssh]" in out
    assert "phase: COMPLETED" in out
    assert "answer.txt: 42" in out
    assert "ran over ssh as" in out
