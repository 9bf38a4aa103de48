"""Fixtures of the docker adapter tests: a private dockerd and a private Podman API
service for the whole session (``engines.py``), and a fresh adapter instance name
per test so that tests never see each other's containers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_engines import ContainerEngines, Engine, missing
from docker_support import config_for, instance_name
from ivoa_broker_docker import DockerAdapter

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import WakeSignal


@pytest.fixture(scope="session")
def container_engines() -> Iterator[ContainerEngines]:
    why = missing()
    if why is not None:
        pytest.skip(why)
    engines = ContainerEngines.start()
    try:
        yield engines
    finally:
        engines.stop()


@pytest.fixture
def call() -> CallContext:
    return CallContext(owner="alice", request_id="t")


@pytest.fixture(params=["docker", "podman"])
def engine(request: pytest.FixtureRequest, container_engines: ContainerEngines) -> Engine:
    return container_engines.engines[str(request.param)]


@pytest.fixture
async def make_adapter(engine: Engine, tmp_path: Path) -> AsyncIterator[Any]:
    """``await make_adapter(**config_overrides)``: an entered adapter on ``engine``."""
    opened: list[DockerAdapter] = []
    wake = WakeSignal()

    async def make(**overrides: Any) -> DockerAdapter:
        deps = AdapterDeps(data_dir=tmp_path / f"data{len(opened)}", wake=wake)
        adapter = DockerAdapter(instance_name(), config_for(engine, **overrides), deps)
        await adapter.__aenter__()
        opened.append(adapter)
        return adapter

    yield make
    for adapter in opened:
        api = engine.client()
        for c in api.containers(
            all=True, filters={"label": f"org.ivoa.broker.instance={adapter.name}"}
        ):
            api.remove_container(c["Id"], force=True, v=True)
        api.close()
        await adapter.__aexit__(None, None, None)
