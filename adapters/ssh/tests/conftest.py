"""Fixtures: a real OpenSSH server on loopback (session-scoped), or a live host.

Without ``--adapter-live`` a throw-away ``sshd`` is started (see
``sshd_server.py``); tests skip with the reason when that is impossible. With
``--adapter-live=ssh`` the host comes from the environment: IVOA_SSH_HOST,
IVOA_SSH_PORT, IVOA_SSH_USER, IVOA_SSH_KEY_FILE, IVOA_SSH_KNOWN_HOSTS and
IVOA_SSH_WORK_DIR (a directory the tests may fill and empty).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sshd_server import SSHDUnavailable, SSHServer, start_sshd  # noqa: E402

from ivoa_broker_ssh import SSHConfig  # noqa: E402


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except SSHDUnavailable as exc:
        pytest.skip(f"no OpenSSH server for the SSH adapter tests: {exc}")
    yield server
    server.stop()


@pytest.fixture
def ssh_live(adapter_live: Callable[[str], bool]) -> bool:
    return adapter_live("ssh")


@pytest.fixture
def ssh_config(ssh_live: bool, request: pytest.FixtureRequest) -> SSHConfig:
    """A config for a fresh remote work directory (one per test)."""
    unique = uuid.uuid4().hex[:8]
    if ssh_live:
        env = os.environ
        return SSHConfig(
            host=env["IVOA_SSH_HOST"],
            port=int(env.get("IVOA_SSH_PORT", "22")),
            username=env.get("IVOA_SSH_USER"),
            key_file=Path(env["IVOA_SSH_KEY_FILE"]) if "IVOA_SSH_KEY_FILE" in env else None,
            known_hosts=Path(env["IVOA_SSH_KNOWN_HOSTS"]) if "IVOA_SSH_KNOWN_HOSTS" in env
            else None,
            work_dir=f"{env.get('IVOA_SSH_WORK_DIR', '.ivoa-broker/conformance')}/{unique}",
            kill_grace_seconds=2,
        )
    server: SSHServer = request.getfixturevalue("sshd")
    return SSHConfig(
        host="127.0.0.1",
        port=server.port,
        username=server.user,
        key_file=server.client_key,
        known_hosts=server.known_hosts,
        work_dir=str(server.work_dir / unique),
        command_timeout=10,
        kill_grace_seconds=2,
    )
