"""Start the real ``ivoa-broker serve`` in a temporary directory (for the live tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx

TOKENS = {"alice": "alice-conformance-token-0001", "bob": "bob-conformance-token-0002"}
SKAHA_TOKEN = "skaha-service-token-0003"
#: an EB request the canfar adapter (against the skaha emulator) answers YES
EB_REQUEST = Path(__file__).parent.parent / "examples" / "eb-request-canfar.json"
CONFIG = """\
[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 5
offer_ttl = 20

[adapters.local]
plugin = "local"
[adapters.local.config]
containers = "off"  # the same checks on a machine with Docker as on one without
"""
#: two canfar instances on one emulator, so that an offer set has two offers (EB-08)
CANFAR = """
[adapters.{name}]
plugin = "canfar"
[adapters.{name}.config]
url = "{url}"
token = "{token}"
offer_seconds = 20
"""


#: seconds the broker may take to answer /availability after it is started
START_TIMEOUT = 120.0


def broker_command() -> str | None:
    """The ``ivoa-broker`` script of the interpreter running the tests (a venv's ``bin/`` is
    often not on ``PATH``, e.g. under ``make test``), else the one on ``PATH``."""
    beside = Path(sys.executable).with_name("ivoa-broker")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ivoa-broker")


class BrokerProcess:
    """``ivoa-broker serve`` on a loopback port, with two token users; stopped on exit."""

    def __init__(self, workdir: Path, port: int, skaha_url: str | None = None) -> None:
        self.workdir, self.port, self.skaha_url = workdir, port, skaha_url
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log: BinaryIO | None = None

    def __enter__(self) -> BrokerProcess:
        command = broker_command()
        if command is None:
            raise RuntimeError("ivoa-broker is not installed")
        (self.workdir / "tokens.txt").write_text(
            "".join(f"{token} {user}\n" for user, token in TOKENS.items())
        )
        config = CONFIG
        if self.skaha_url:
            for name in ("canfar", "canfar2"):
                config += CANFAR.format(name=name, url=self.skaha_url, token=SKAHA_TOKEN)
        (self.workdir / "broker.toml").write_text(config)
        self.log = log = (self.workdir / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [
                command,
                "serve",
                "--config",
                "broker.toml",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        # generous: on a loaded 2-core machine (xdist workers) start-up alone took 48 s
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("ivoa-broker serve exited: " + self.log_tail())
            try:
                if httpx.get(self.base + "/availability", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"ivoa-broker serve did not answer in {START_TIMEOUT:.0f} s: " + self.log_tail()
        )

    def log_tail(self) -> str:
        path = self.workdir / "serve.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.log is not None:
            self.log.close()
            self.log = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
