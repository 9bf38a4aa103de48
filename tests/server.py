"""A real broker process for tests: ``ivoa-broker serve`` under uvicorn on loopback."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

from ivoa_broker.testing.broker_http import wait_phase, wait_session

__all__ = ["BrokerProcess", "free_port", "session_with_connectors", "wait_phase"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def local_platform(containers: str = "off", **config: str | int | Sequence[Path]) -> str:
    """The TOML of the ``local`` platform with these ``[adapters.local.config]`` keys (a
    string, a number or a list of paths each), for a test broker's config.

    Its ``containers`` are off unless asked for (an engine address, ``"auto"``): a test of
    processes behaves the same on a machine with Docker or Podman as on one without."""
    lines = ["[adapters.local]", 'plugin = "local"', "[adapters.local.config]"]
    lines.append(f"containers = {json.dumps(containers)}")
    for key, value in config.items():
        shown = value if isinstance(value, str | int) else [str(path) for path in value]
        lines.append(f"{key} = {json.dumps(shown)}")
    return "\n".join(lines) + "\n"


#: every broker a test launched and has not stopped: killed when the test process ends, so
#: a test that fails between start and stop leaves no broker behind
_LAUNCHED: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LAUNCHED):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _LAUNCHED.clear()


class BrokerProcess:
    """Starts the broker in ``workdir`` (its store and work area live there).

    ``env`` is added to the test's environment, ``args`` to the command line; ``start``
    is ``launch`` (spawn) then ``ready`` (wait for ``/availability``), so several brokers
    can start in parallel.
    """

    def __init__(
        self,
        workdir: Path,
        config: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ):
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.env = dict(env or {})
        self.args = tuple(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "broker.log"

    def start(self, timeout: float = 240.0) -> Self:
        return self.launch().ready(timeout)

    def launch(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "ivoa_broker.cli", "serve", "--port", str(self.port)]
        if self.config is not None:
            path = self.workdir / "broker.toml"
            path.write_text(self.config)
            args += ["--config", str(path)]
        args += self.args
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        _LAUNCHED.add(self.proc)
        return self

    def ready(self, timeout: float = 240.0) -> Self:
        """Wait until ``/availability`` answers (a hang guard: a busy machine is slow)."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/availability", timeout=10).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()  # no process left running behind a failed start
        raise RuntimeError(f"broker did not start: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (the restart test needs exactly that)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        _LAUNCHED.discard(self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            _LAUNCHED.discard(self.proc)


def session_with_connectors(
    http: httpx.Client, session_id: str, limit: float = 120
) -> dict[str, Any]:
    """The ExecutionBroker session document (JSON) once it has its connectors."""
    return wait_session(
        http, session_id, until=lambda doc: bool(doc.get("connectors")), limit=limit
    )
