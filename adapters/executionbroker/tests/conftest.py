"""One set of real broker processes for the whole run (per-run tmp dirs, free ports):
node ``a`` (small: 1 core per job), node ``b`` (big: 4 cores), a front broker whose
only platforms are ``a`` and ``b``, and two front brokers pointing at each other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from federation_support import (
    FRONT_TOKENS,
    IMAGE,
    NODE_TOKENS,
    Broker,
    Federation,
    free_port,
    front_config,
    node_config,
    remote_block,
)


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    a = Broker(
        root / "node-a", node_config("node-a", max_cores=1, max_jobs=8, offer_ttl=20), NODE_TOKENS
    )
    b = Broker(  # node b also trusts the front's tokens (one issuer: forwarding works)
        root / "node-b",
        node_config("node-b", max_cores=4, max_jobs=32, offer_ttl=6),
        [NODE_TOKENS, FRONT_TOKENS],
    )
    started: list[Broker] = []
    try:
        started += [a.launch(), b.launch()]  # in parallel: start-up is CPU-bound
        for node in (a, b):
            node.ready()
        front = Broker(
            root / "front",
            front_config(
                [remote_block("a", a.url, "node-a"), remote_block("b", b.url, "node-b")],
                broker_id="front",
            ),
            FRONT_TOKENS,
        )
        started.append(front.start())
        yield Federation(a, b, front)
    finally:
        for broker in reversed(started):
            broker.stop()


@pytest.fixture(scope="session")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Broker]]:
    """Two front brokers, each with only the other as platform (``two`` has no
    configured id: it makes and keeps its own)."""
    root = tmp_path_factory.mktemp("loop")
    port_one, port_two = free_port(), free_port()
    one = Broker(
        root / "one",
        front_config([remote_block("two", f"http://127.0.0.1:{port_two}", "two")], broker_id="one"),
        [FRONT_TOKENS, NODE_TOKENS],
        port=port_one,
    )
    two = Broker(
        root / "two",
        front_config([remote_block("one", f"http://127.0.0.1:{port_one}", "one")]),
        [FRONT_TOKENS, NODE_TOKENS],
        port=port_two,
    )
    try:
        for broker in (one.launch(), two.launch()):
            broker.ready()
        yield one, two
    finally:
        two.stop()
        one.stop()


@pytest.fixture(scope="session")
def forwarding(
    federation: Federation, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """A front broker with node b as its one platform and no token of its own for it:
    it forwards each caller's own token (``forward_credentials``)."""
    block = (
        '[adapters.b]\nplugin = "executionbroker"\n[adapters.b.config]\n'
        f'base_url = "{federation.b.url}"\nnode = "node-b"\n'
        f'default_image = "{IMAGE}"\nforward_credentials = true\n'
    )
    front = Broker(
        tmp_path_factory.mktemp("forwarding"),
        front_config([block], broker_id="forwarding"),
        FRONT_TOKENS,
    )
    try:
        yield front.start()
    finally:
        front.stop()
