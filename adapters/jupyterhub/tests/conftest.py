"""Fixtures of the JupyterHub adapter tests: one real JupyterHub (PyPI) with
configurable-http-proxy (npm) for the whole test session, started by the
adapter's own start script (:mod:`ivoa_broker_jupyterhub.localhub`) on free
loopback ports with a per-run state folder, stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hub_support import adapter_config
from ivoa_broker_jupyterhub import JupyterHubAdapter, JupyterHubConfig
from ivoa_broker_jupyterhub.localhub import LocalHub, find_installation

from ivoa_broker.protocol import AdapterDeps, CallContext


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    install = find_installation()
    if install is None:
        pytest.skip("JupyterHub is not installed: run .ci/install.d/40-jupyterhub.sh as root")
    with LocalHub(tmp_path_factory.mktemp("jupyterhub"), install) as hub:
        yield hub


@pytest.fixture
def config(hub: LocalHub) -> JupyterHubConfig:
    return adapter_config(hub)


@pytest.fixture
def deps(tmp_path: Path) -> AdapterDeps:
    return AdapterDeps(data_dir=tmp_path / "data")


@pytest.fixture
async def jhub(config: JupyterHubConfig, deps: AdapterDeps) -> AsyncIterator[JupyterHubAdapter]:
    async with JupyterHubAdapter("jupyterhub-test", config, deps) as adapter:
        yield adapter


@pytest.fixture
def call() -> CallContext:
    return CallContext(owner="alice", request_id="t")
