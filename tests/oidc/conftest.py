"""One real OpenID provider (node oidc-provider) for the whole test run, on a free
loopback port with its state in a per-run temporary folder (under pytest-xdist the
folder is one group, see the root conftest.py, so it starts once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.oidc.provider import OpenIDProvider, node_modules


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    modules = node_modules()
    if modules is None:
        pytest.skip(
            "node's oidc-provider is not installed: run .ci/install.d/35-oidc-provider.sh "
            "(or set IVOA_BROKER_OIDC_NODE_MODULES)"
        )
    running = OpenIDProvider(tmp_path_factory.mktemp("oidc-provider"), modules).start()
    yield running
    running.stop()
