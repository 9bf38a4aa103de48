"""ivoa-broker adapter ``ssh``: batch jobs on a remote host over SSH (asyncssh)."""

from __future__ import annotations

from ._adapter import SSHAdapter
from ._client import RemoteResult, SSHClient
from ._config import SSHConfig

__all__ = ["RemoteResult", "SSHAdapter", "SSHClient", "SSHConfig"]
