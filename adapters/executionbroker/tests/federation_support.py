"""Real ivoa-broker processes for the federation tests: two "nodes" whose platforms
run containers as local processes (the test plug-in of ``tests/eb_http/plugins``,
a subclass of ``local``) plus a plain ``local`` platform (which refuses images, so
its NO reason shows), and front brokers whose only platforms are remote brokers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
PLUGINS = REPO / "tests" / "eb_http" / "plugins"
IMAGE = "docker.io/library/python:3.12"

#: front broker tokens (owner -> token) and the nodes' (remote account -> token)
FRONT_TOKENS = {"alice": "front-alice-0123456789", "bob": "front-bob-0123456789"}
NODE_TOKENS = {
    "svc": "node-svc-0123456789",
    "alice": "node-alice-0123456789",
    "bob": "node-bob-0123456789",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Broker:
    """``ivoa-broker serve`` in ``workdir`` on a fixed port (restartable on the same one)."""

    workdir: Path
    config: str
    #: owner -> bearer token, for every token file line
    tokens: dict[str, str] | list[dict[str, str]]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Broker:
        self.launch()
        return self.ready(timeout)

    def launch(self) -> Broker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        maps = self.tokens if isinstance(self.tokens, list) else [self.tokens]
        (self.workdir / "tokens.txt").write_text(
            "".join(f"{token} {owner}\n" for m in maps for owner, token in m.items())
        )
        (self.workdir / "broker.toml").write_text(self.config)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
        args = [sys.executable, "-m", "ivoa_broker.cli", "serve", "--port", str(self.port)]
        args += ["--config", str(self.workdir / "broker.toml")]
        with (self.workdir / "broker.log").open("ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        return self

    def ready(self, timeout: float = 60.0) -> Broker:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/availability", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"broker did not start: {self.log()[-3000:]}")

    def log(self) -> str:
        path = self.workdir / "broker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: nothing of the broker's shutdown runs."""
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


def node_config(broker_id: str, max_cores: int, max_jobs: int, offer_ttl: float = 300) -> str:
    return f"""\
[server]
broker_id = "{broker_id}"
[auth]
anonymous = false
token_file = "tokens.txt"
[jobs]
wait_cap = 5
offer_ttl = {offer_ttl}
[adapters.containers]
plugin = "ebtest-container"
[adapters.containers.config]
max_cores = {max_cores}
max_jobs = {max_jobs}
[adapters.plain]
plugin = "local"
"""


def remote_block(name: str, url: str, node: str, extra: str = "") -> str:
    return f"""\
[adapters.{name}]
plugin = "executionbroker"
[adapters.{name}.config]
base_url = "{url}"
node = "{node}"
token = "{NODE_TOKENS["svc"]}"
default_image = "{IMAGE}"
{extra}
[adapters.{name}.config.account_tokens]
alice = "{NODE_TOKENS["alice"]}"
bob = "{NODE_TOKENS["bob"]}"
[adapters.{name}.config.identity.accounts]
alice = "alice"
bob = "bob"
"""


def front_config(
    remotes: list[str], broker_id: str | None = None, offer_deadline: float = 5.0
) -> str:
    server = f'[server]\nbroker_id = "{broker_id}"\n' if broker_id else ""
    head = (
        f'{server}[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
        f"[jobs]\nwait_cap = 5\noffer_deadline = {offer_deadline}\n"
    )
    return head + "".join(remotes)


@dataclass
class Federation:
    """Two nodes and a front broker whose only platforms are the nodes."""

    a: Broker
    b: Broker
    front: Broker
