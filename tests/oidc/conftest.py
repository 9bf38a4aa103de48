"""One real OpenID provider (node oidc-provider) for the whole test run, on a free
loopback port with its state in a per-run temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oidc.provider import OpenIDProvider, node_modules

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup) these tests share one worker, so the
    provider and the brokers start once."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.xdist_group("oidc"))


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
