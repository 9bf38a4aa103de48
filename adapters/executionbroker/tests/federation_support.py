"""Real ivoa-broker processes for the federation tests: two "nodes" whose platforms
run containers as local processes (the test plug-in of ``tests/eb_http/plugins``,
a subclass of ``local``) plus a plain ``local`` platform (which refuses images, so
its NO reason shows), and front brokers whose only platforms are remote brokers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tests.server import BrokerProcess, free_port

__all__ = ["BrokerProcess", "free_port"]  # conftest takes free_port from here


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Broker(BrokerProcess):
    """``ivoa-broker serve`` in ``workdir`` with a token file and the test plug-ins on
    its path; restartable on the same port."""

    def __init__(
        self,
        workdir: Path,
        config: str,
        tokens: dict[str, str] | list[dict[str, str]],
        port: int | None = None,
    ) -> None:
        path = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
        super().__init__(workdir, config, port, env={"PYTHONPATH": path})
        #: owner -> bearer token, for every token file line
        self.tokens = tokens

    def launch(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        maps = self.tokens if isinstance(self.tokens, list) else [self.tokens]
        (self.workdir / "tokens.txt").write_text(
            "".join(f"{token} {owner}\n" for m in maps for owner, token in m.items())
        )
        return super().launch()


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
[adapters.plain.config]
containers = "off"  # runs no images, with or without an engine on the machine
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
