"""Real Slurm failures for the kit's error-mapping tests (CLI mode), injected at the runner
seam (``AdapterDeps.run``): the next command runs against a copy of the cluster's
configuration that is broken the way a real site breaks, and Slurm's own client reports it.

* CONNECTION: the controller (and slurmdbd) port is one nothing listens on;
* TIMEOUT: the port is a socket that accepts and never answers (``MessageTimeout=2``);
* AUTH: the munge socket does not exist (what a dead or foreign munged looks like).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from slurm_cluster import free_ports

from ivoa_broker.protocol import CommandResult, run_command
from ivoa_broker.testing import Fault


class FaultyRunner:
    def __init__(self, slurm_conf: str, folder: Path, *, user: str | None = None) -> None:
        self._conf = Path(slurm_conf)
        #: run every command as this user (the adapter's service account on the cluster)
        self._prefix = (
            ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
        )
        self._folder = folder
        self._next: Fault | None = None
        self._silent = socket.socket()  # accepts (backlog) but is never read: a hung daemon
        self._silent.bind(("127.0.0.1", 0))
        self._silent.listen(64)
        [self._dead] = free_ports(1)
        self.confs = {fault: self._broken(fault) for fault in FAULTS}

    def close(self) -> None:
        self._silent.close()

    def _broken(self, fault: Fault) -> str:
        text = self._conf.read_text()
        if fault is Fault.AUTH:
            missing = str(self._folder / "no-munge.socket")
            text = re.sub(r"(?m)^AuthInfo=socket=.*$", f"AuthInfo=socket={missing}", text)
            text = re.sub(
                r"(?m)^AccountingStoragePass=.*$", f"AccountingStoragePass={missing}", text
            )
        else:
            port = self._dead if fault is Fault.CONNECTION else self._silent.getsockname()[1]
            text = re.sub(r"(?m)^SlurmctldPort=.*$", f"SlurmctldPort={port}", text)
            text = re.sub(r"(?m)^AccountingStoragePort=.*$", f"AccountingStoragePort={port}", text)
            text = re.sub(r"(?m)^MessageTimeout=.*$", "MessageTimeout=2", text)
        folder = self._folder / fault.value
        folder.mkdir(parents=True, exist_ok=True)
        for extra in ("cgroup.conf",):  # read next to slurm.conf
            source = self._conf.parent / extra
            if source.exists():
                (folder / extra).write_text(source.read_text())
        path = folder / "slurm.conf"
        path.write_text(text)
        return str(path)

    def fail_next(self, fault: Fault) -> None:
        self._next = fault

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        fault, self._next = self._next, None
        if fault is not None:
            env = {**(env or {}), "SLURM_CONF": self.confs[fault]}
        return await run_command(
            [*self._prefix, *argv], input=input, timeout=timeout, env=env, cwd=cwd
        )


FAULTS = (Fault.CONNECTION, Fault.TIMEOUT, Fault.AUTH)
#: the operations whose first command is a Slurm client (logs reads files with cat)
OPS = ("health", "offers", "submit", "status", "cancel", "cleanup", "list_native")
