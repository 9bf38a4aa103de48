"""The conformance kit against a real Docker Engine and a real Podman API service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import config_for, instance_name
from docker_engines import ContainerEngines, Engine
from ivoa_broker_docker import DockerAdapter

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, Fault, PlatformControls, WakeSignal


class EngineController:
    """Lists the containers of one adapter instance straight from the engine."""

    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine = engine
        self.instance = instance

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        api = self.engine.client()
        try:
            found = api.containers(
                all=True, filters={"label": f"org.ivoa.broker.instance={self.instance}"}
            )
        finally:
            api.close()
        return {str(c["Names"][0]).lstrip("/") for c in found}

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("a real engine cannot be told to fail")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("real containers end by themselves")


class _EngineConformance(AdapterConformance):
    ENGINE: str

    @pytest.fixture
    def engine(self, container_engines: ContainerEngines) -> Engine:
        return container_engines.engines[self.ENGINE]

    @pytest.fixture
    def instance(self) -> str:
        return instance_name()

    @pytest.fixture
    def platform(self, engine: Engine, instance: str) -> EngineController:
        return EngineController(engine, instance)

    @pytest.fixture
    def native_states_sample(self) -> tuple[str, ...]:
        return ("created", "running", "paused", "restarting", "exited", "dead", "removing")

    @pytest.fixture
    async def adapter(
        self, engine: Engine, instance: str, tmp_path: Path, wake: WakeSignal
    ) -> AsyncIterator[DockerAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        async with DockerAdapter(instance, config_for(engine), deps) as adapter:
            yield adapter

    @pytest.fixture(autouse=True)
    def _sweep(self, engine: Engine, instance: str) -> Iterator[None]:
        yield
        api = engine.client()
        for c in api.containers(
            all=True, filters={"label": f"org.ivoa.broker.instance={instance}"}
        ):
            api.remove_container(c["Id"], force=True, v=True)
        api.close()


class TestDockerEngineConformance(_EngineConformance):
    ENGINE = "docker"


class TestPodmanConformance(_EngineConformance):
    ENGINE = "podman"
