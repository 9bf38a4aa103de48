"""The one error boundary (_client.map_error) and failures against the real sshd."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncssh
import pytest
from ivoa_broker_ssh import SSHConfig
from ivoa_broker_ssh._client import SSHClient, map_error
from pydantic import SecretStr
from sshd_server import SSHServer

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    FatalError,
    NotFound,
    TransientError,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (asyncssh.PermissionDenied("no"), AuthError),
        (asyncssh.HostKeyNotVerifiable("changed"), AuthError),
        (asyncssh.ConnectionLost("reset"), TransientError),
        (asyncssh.ChannelOpenError(2, "open failed"), TransientError),
        (asyncssh.ProtocolError("bad packet"), FatalError),
        (asyncssh.ProtocolNotSupported("SSH-0.1"), FatalError),
        (asyncssh.SFTPNoSuchFile("missing"), NotFound),
        (asyncssh.SFTPFailure("disk full"), FatalError),
        (asyncssh.KeyImportError("bad key"), FatalError),
        (ConnectionRefusedError(111, "refused"), TransientError),
        (OSError(113, "no route"), TransientError),
        (TimeoutError(), TransientError),
        (ValueError("bug"), FatalError),
    ],
)
def test_map_error(exc: BaseException, expected: type[AdapterError]) -> None:
    mapped = map_error(exc, "example.org")
    assert type(mapped) is expected
    assert "example.org" in mapped.message or expected is FatalError


def test_map_error_keeps_protocol_errors() -> None:
    original = NotFound("gone")
    assert map_error(original, "h") is original


def base_config(sshd: SSHServer, **changes: object) -> SSHConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.user,
        "key_file": sshd.client_key,
        "known_hosts": sshd.known_hosts,
        "work_dir": str(sshd.work_dir),
        "command_timeout": 10,
        "connect_timeout": 5,
    }
    values.update(changes)
    return SSHConfig.model_validate(values)


async def run_once(config: SSHConfig) -> str:
    client = SSHClient(config)
    try:
        return (await client.run("echo ok")).stdout
    finally:
        await client.close()


async def test_real_server_runs_commands(sshd: SSHServer) -> None:
    assert await run_once(base_config(sshd)) == "ok\n"


async def test_untrusted_key_is_auth_error(sshd: SSHServer, sshd_untrusting: SSHServer) -> None:
    config = base_config(
        sshd, port=sshd_untrusting.port, known_hosts=None, accept_unknown_host_keys=True
    )
    with pytest.raises(AuthError, match="refused the key"):
        await run_once(config)


async def test_unknown_host_key_is_auth_error(sshd: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(AuthError, match="untrusted host key"):
        await run_once(base_config(sshd, known_hosts=empty))


async def test_closed_port_is_transient(sshd: SSHServer) -> None:
    import socket

    with socket.socket() as s:  # bound, never listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(TransientError):
            await run_once(base_config(sshd, port=port))


async def test_missing_key_file_is_fatal(sshd: SSHServer, tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="key file"):
        await run_once(base_config(sshd, key_file=tmp_path / "nope"))


@pytest.fixture
def locked_key(tmp_path: Path) -> Path:
    """A PKCS#8-encrypted key (passphrase "right"): no bcrypt needed to read it."""
    path = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PKCS8", "-N", "right", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    assert asyncssh.read_private_key(str(path), passphrase="right").get_algorithm()
    return path


async def test_wrong_passphrase_is_fatal(sshd: SSHServer, locked_key: Path) -> None:
    with pytest.raises(FatalError, match="cannot be loaded"):
        await run_once(base_config(sshd, key_file=locked_key, key_passphrase=SecretStr("wrong")))


async def test_failing_remote_command_is_fatal_without_secrets(sshd: SSHServer) -> None:
    client = SSHClient(base_config(sshd))
    try:
        with pytest.raises(FatalError) as caught:
            await client.run("echo boom >&2; exit 4")
        assert caught.value.detail is not None
        assert "boom" in caught.value.detail
        assert str(sshd.client_key) not in caught.value.message
        assert (await client.run("exit 4", check=False)).returncode == 4
    finally:
        await client.close()


def test_config_repr_hides_key_and_passphrase(sshd: SSHServer) -> None:
    config = base_config(sshd, key_passphrase=SecretStr("hunter2"))
    assert str(sshd.client_key) not in repr(config)
    assert "hunter2" not in repr(config)
    assert "hunter2" not in repr(SSHClient(config))
