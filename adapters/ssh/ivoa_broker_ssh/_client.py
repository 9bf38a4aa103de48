"""A thin asyncssh client: the one place where SSH and OS errors become protocol errors.

One long-lived connection per adapter instance, opened on first use and
re-opened after it broke. A semaphore keeps the number of concurrent channels
under the server's ``MaxSessions``. Every call has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    FatalError,
    NotFound,
    TransientError,
)

from ._config import SSHConfig


@dataclass(frozen=True)
class RemoteResult:
    returncode: int
    stdout: str
    stderr: str


def map_error(exc: BaseException, host: str) -> AdapterError:
    """Translate an asyncssh/OS error into the protocol's hierarchy (messages hold no secrets)."""
    where = f"SSH host {host}"
    match exc:
        case AdapterError():
            return exc
        case asyncssh.PermissionDenied():
            return AuthError(f"{where} refused the key", detail=exc.reason)
        case asyncssh.HostKeyNotVerifiable():
            return AuthError(f"{where} presented an untrusted host key", detail=exc.reason)
        case asyncssh.KeyImportError() | asyncssh.KeyEncryptionError():
            return FatalError("the configured SSH key cannot be loaded", detail=type(exc).__name__)
        case asyncssh.SFTPNoSuchFile():
            return NotFound(f"a remote file is missing on {where}", detail=exc.reason)
        case asyncssh.ProtocolError() | asyncssh.ProtocolNotSupported():
            return FatalError(f"{where} does not speak SSH properly", detail=exc.reason)
        case asyncssh.SFTPError():
            return FatalError(f"file transfer from {where} failed", detail=exc.reason)
        case asyncssh.ConnectionLost() | asyncssh.DisconnectError() | asyncssh.ChannelOpenError():
            return TransientError(f"the connection to {where} failed", detail=str(exc))
        case TimeoutError() | asyncssh.TimeoutError():
            return TransientError(f"{where} did not answer in time")
        case asyncssh.Error():
            return FatalError(f"SSH failure on {where}", detail=str(exc))
        case ConnectionError() | OSError():
            return TransientError(f"cannot reach {where}", detail=type(exc).__name__)
        case _:
            return FatalError(f"unexpected failure talking to {where}", detail=repr(exc))


class SSHClient:
    """Runs scripts with ``sh -s`` and copies files over SFTP."""

    def __init__(self, config: SSHConfig) -> None:
        self.config = config
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting = asyncio.Lock()
        self._sessions = asyncio.Semaphore(config.max_sessions)

    def __repr__(self) -> str:
        return f"SSHClient(host={self.config.host!r}, port={self.config.port})"

    async def close(self, *, abort: bool = False) -> None:
        """Close the connection (``abort``: drop it without a goodbye, it is broken)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            if abort:
                conn.abort()
            else:
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), self.config.connect_timeout)

    def _options(self) -> dict[str, Any]:
        cfg = self.config
        options: dict[str, Any] = {
            "port": cfg.port,
            "connect_timeout": cfg.connect_timeout,
            "agent_path": None if cfg.key_file else (),
        }
        if cfg.username:
            options["username"] = cfg.username
        if cfg.key_file is not None:
            options["client_keys"] = [str(cfg.key_file)]
        if cfg.key_passphrase is not None:
            options["passphrase"] = cfg.key_passphrase.get_secret_value()
        if cfg.accept_unknown_host_keys:
            options["known_hosts"] = None
        elif cfg.known_hosts is not None:
            options["known_hosts"] = str(cfg.known_hosts)
        return options

    async def _connection(self) -> asyncssh.SSHClientConnection:
        async with self._connecting:
            if self._conn is not None and self._conn.is_closed():
                self._conn = None  # lost since the last call: reconnect
            if self._conn is None:
                key = self.config.key_file
                if key is not None and not key.is_file():
                    raise FatalError("the configured SSH key file cannot be read")
                self._conn = await asyncssh.connect(self.config.host, **self._options())
            return self._conn

    @contextlib.asynccontextmanager
    async def _boundary(self, timeout: float) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """A session: bounded, timed, and every failure mapped (the one boundary)."""
        try:
            async with self._sessions, asyncio.timeout(timeout):
                yield await self._connection()
        except AdapterError:
            raise
        except Exception as exc:
            mapped = map_error(exc, self.config.host)
            if isinstance(mapped, TransientError | AuthError):
                await self.close(abort=True)  # broken or refused: the next call reconnects
            raise mapped from exc

    async def run(self, script: str, *, check: bool = True) -> RemoteResult:
        """Run ``script`` with ``sh -s``; with ``check`` a non-zero exit is a FatalError."""
        async with self._boundary(self.config.command_timeout) as conn:
            done = await conn.run("sh -s", input=script, check=False)
        out = RemoteResult(
            done.exit_status if done.exit_status is not None else -1,
            _text(done.stdout),
            _text(done.stderr),
        )
        if check and out.returncode != 0:
            raise FatalError(
                f"a command failed on SSH host {self.config.host}",
                detail=f"rc={out.returncode} stderr={out.stderr[-500:]!r}",
            )
        return out

    async def download(self, remote: str, local: Path) -> None:
        """Copy a remote file or directory tree to ``local``."""
        async with (
            self._boundary(self.config.transfer_timeout) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await sftp.get(remote, str(local), recurse=True, preserve=False)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
