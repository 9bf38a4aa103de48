"""The ``config:`` block of an ``ssh`` adapter instance."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from ivoa_broker.protocol import AdapterConfig


class SSHConfig(AdapterConfig):
    """Where and how to log in, and where jobs live on the remote host.

    ``key_file`` is the path of a private key (hidden from reprs); without it
    asyncssh uses the agent and the default keys of the broker's user.
    ``known_hosts`` is the file of trusted host keys (default
    ``~/.ssh/known_hosts``); ``accept_unknown_host_keys`` turns host key
    checking off (only for throw-away test hosts). ``work_dir`` holds one
    directory per job, named with the broker job id; a relative path is
    relative to the remote home directory.
    """

    host: str = "localhost"
    port: int = Field(default=22, ge=1, le=65535)
    username: str | None = None
    key_file: Path | None = Field(default=None, repr=False)
    key_passphrase: SecretStr | None = None
    known_hosts: Path | None = None
    accept_unknown_host_keys: bool = False
    work_dir: str = Field(default=".ivoa-broker/jobs", pattern=r"^[^\n'\\]+$")
    connect_timeout: float = Field(default=10.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    #: seconds one result download (SFTP) may take
    transfer_timeout: float = Field(default=600.0, gt=0)
    #: concurrent SSH channels (stay below the server's ``MaxSessions``, 10 by default)
    max_sessions: int = Field(default=8, ge=1)
    max_cores: float = Field(default=64, gt=0)
    max_walltime_seconds: int | None = Field(default=None, gt=0)
    #: seconds between SIGTERM and SIGKILL when a job is cancelled
    kill_grace_seconds: int = Field(default=10, ge=0)
