"""Fixtures: a real OpenSSH server on loopback (session-scoped), or a live host.

Without ``--adapter-live`` a throw-away ``sshd`` is started (see
``sshd_server.py``); tests skip with the reason when that is impossible. With
``--adapter-live=ssh`` the host comes from the environment: IVOA_SSH_HOST,
IVOA_SSH_PORT, IVOA_SSH_USER, IVOA_SSH_KEY_FILE, IVOA_SSH_KNOWN_HOSTS and
IVOA_SSH_WORK_DIR (a directory the tests may fill and empty).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from ivoa_broker_ssh import SSHConfig
from sshd_server import SSHDUnavailable, SSHServer, start_sshd

#: seconds an SSH command may take in these tests (the timeout faults wait this long); 5 s was
#: too short on a loaded CI machine: one of twenty concurrent cleanups timed out in the kit's
#: many-submits test while three xdist workers shared two cores
COMMAND_TIMEOUT = 15.0


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except SSHDUnavailable as exc:
        pytest.skip(f"no OpenSSH server for the SSH adapter tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sshd_untrusting(
    sshd: SSHServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHServer]:
    """A second sshd with the same host key that refuses every client key."""
    try:
        server = start_sshd(
            tmp_path_factory.mktemp("sshd-untrusting"), host_key=sshd.host_key, trust_client=False
        )
    except SSHDUnavailable as exc:
        pytest.skip(f"no second OpenSSH server: {exc}")
    yield server
    server.stop()


@pytest.fixture
async def ssh_proxy(sshd: SSHServer, sshd_untrusting: SSHServer) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(sshd.port, sshd_untrusting.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
def ssh_live(adapter_live: Callable[[str], bool]) -> bool:
    return adapter_live("ssh")


@pytest.fixture
def ssh_config(ssh_live: bool, request: pytest.FixtureRequest, tmp_path: Path) -> SSHConfig:
    """A config for a fresh remote work directory (one per test).

    Locally the adapter reaches sshd through a :class:`FaultProxy`.
    """
    unique = uuid.uuid4().hex[:8]
    if ssh_live:
        env = os.environ
        return SSHConfig(
            host=env["IVOA_SSH_HOST"],
            port=int(env.get("IVOA_SSH_PORT", "22")),
            username=env.get("IVOA_SSH_USER"),
            key_file=Path(env["IVOA_SSH_KEY_FILE"]) if "IVOA_SSH_KEY_FILE" in env else None,
            known_hosts=Path(env["IVOA_SSH_KNOWN_HOSTS"])
            if "IVOA_SSH_KNOWN_HOSTS" in env
            else None,
            work_dir=f"{env.get('IVOA_SSH_WORK_DIR', '.ivoa-broker/conformance')}/{unique}",
            kill_grace_seconds=2,
        )
    server: SSHServer = request.getfixturevalue("sshd")
    proxy: FaultProxy = request.getfixturevalue("ssh_proxy")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line(proxy.port))
    return SSHConfig(
        host="127.0.0.1",
        port=proxy.port,
        username=server.user,
        key_file=server.client_key,
        known_hosts=known_hosts,
        work_dir=str(server.work_dir / unique),
        command_timeout=COMMAND_TIMEOUT,
        kill_grace_seconds=2,
    )
