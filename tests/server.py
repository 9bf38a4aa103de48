"""A real broker process for tests: ``ivoa-broker serve`` under uvicorn on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BrokerProcess:
    """Starts the broker in ``workdir`` (its store and work area live there)."""

    def __init__(
        self,
        workdir: Path,
        config: str | None = None,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        self.workdir = workdir
        self.extra_args = extra_args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "broker.log"

    def start(self, timeout: float = 240.0) -> BrokerProcess:
        args = [sys.executable, "-m", "ivoa_broker.cli", "serve", "--port", str(self.port)]
        if self.config is not None:
            path = self.workdir / "broker.toml"
            path.write_text(self.config)
            args += ["--config", str(path)]
        args += list(self.extra_args)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/availability", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"broker did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (the restart test needs exactly that)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
