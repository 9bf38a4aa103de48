"""A :class:`~ivoa_broker.protocol.CommandRunner` on a Slurm login host, over the ``ssh``
plug-in's transport (``ivoa_broker_ssh.SSHClient``: one kept connection, bounded channels,
its errors already mapped to the protocol's). Needs ``ivoa-broker-slurm[ssh]``."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping, Sequence

from ivoa_broker.protocol import CommandResult, FatalError

from ._config import SSHLogin


def remote_script(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """The ``sh -s`` script that runs ``argv`` there (``input`` as a quoted here-document)."""
    lines = []
    if cwd is not None:
        lines.append(f"cd {shlex.quote(cwd)} || exit 1")
    lines.extend(f"export {k}={shlex.quote(v)}" for k, v in sorted((env or {}).items()))
    command = shlex.join(argv)
    if input is None:
        lines.append(f"exec {command} </dev/null")
    else:
        mark = f"IVB_INPUT_{secrets.token_hex(8)}"
        text = input if input.endswith("\n") else input + "\n"
        lines.append(f"exec {command} <<'{mark}'\n{text}{mark}")
    return "\n".join(lines) + "\n"


class SSHRunner:
    """Runs commands on the login host; ``close()`` drops the kept connection."""

    def __init__(self, login: SSHLogin, *, timeout: float) -> None:
        try:
            from ivoa_broker_ssh import SSHClient, SSHConfig
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise FatalError(
                "a Slurm login host needs ivoa-broker-ssh (pip install 'ivoa-broker-slurm[ssh]')"
            ) from exc
        self.host = login.host
        self._client = SSHClient(
            SSHConfig(
                host=login.host,
                port=login.port,
                username=login.username,
                key_file=login.key_file,
                known_hosts=login.known_hosts,
                accept_unknown_host_keys=login.accept_unknown_host_keys,
                command_timeout=timeout,
            )
        )

    def __repr__(self) -> str:
        return f"SSHRunner(host={self.host!r})"

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        script = remote_script(argv, input=input, env=env, cwd=cwd)
        done = await self._client.run(script, check=False)
        return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    async def close(self) -> None:
        await self._client.close()
