"""A real broker process for the ExecutionBroker HTTP tests.

Platforms: ``local``, two container platforms (``box``, ``box2``: the test-only
``ebtest-container`` plug-in, which runs a container's command as a local
process), one whose offers never answer (``slow``) and one whose offers raise
(``broken``). The test plug-ins come from ``plugins/`` on ``PYTHONPATH``.
Two identities: ``alice`` and ``bob`` (bearer tokens).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess

PLUGINS = Path(__file__).resolve().parent / "plugins"
ALICE = {"Authorization": "Bearer alice-token-0123456789"}
BOB = {"Authorization": "Bearer bob-token-0123456789"}
OFFER_DEADLINE = 1.5

CONFIG = f"""\
[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 5
offer_deadline = {OFFER_DEADLINE}
offer_ttl = 300

[adapters.local]
plugin = "local"
[adapters.local.config]
containers = "off"  # refuses images on any machine (the tests read its reason)
[adapters.box]
plugin = "ebtest-container"
[adapters.box2]
plugin = "ebtest-container"
[adapters.slow]
plugin = "ebtest-slow"
[adapters.broken]
plugin = "ebtest-failing"
"""


def start_with_plugins(workdir: Path, config: str) -> BrokerProcess:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(PLUGINS), prepend=os.pathsep)
        return BrokerProcess(workdir, config=config).start()


@pytest.fixture(scope="package")
def eb_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("eb-broker")
    (workdir / "tokens.txt").write_text("alice-token-0123456789 alice\nbob-token-0123456789 bob\n")
    process = start_with_plugins(workdir, CONFIG)
    yield process
    process.stop()


@pytest.fixture
def eb(eb_broker: BrokerProcess) -> Iterator[httpx.Client]:
    """Alice's client of the EB test broker."""
    with httpx.Client(base_url=eb_broker.url, timeout=30, headers=ALICE) as client:
        yield client


@pytest.fixture
def stranger(eb_broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=eb_broker.url, timeout=30, headers=BOB) as client:
        yield client
