"""The conformance kit against a real Docker Engine and a real Podman API service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from docker_engines import ContainerEngines, Engine
from docker_fault_proxy import FaultProxy
from docker_support import config_for, instance_name
from ivoa_broker_docker import DockerAdapter

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, Fault, PlatformControls, WakeSignal

_FAULT_OPS = ("health", "offers", "submit", "status", "cancel", "cleanup", "logs", "list_native")
_NOT_FOUND_OPS = ("status", "cancel", "cleanup")


class EngineController:
    """Lists the containers of one adapter instance straight from the engine, and
    makes the adapter's next request fail through the :class:`FaultProxy`."""

    def __init__(self, engine: Engine, instance: str, proxy: FaultProxy) -> None:
        self.engine = engine
        self.instance = instance
        self.proxy = proxy

    @property
    def controls(self) -> PlatformControls:
        faults = {
            op: frozenset(f for f in Fault if f != Fault.NOT_FOUND or op in _NOT_FOUND_OPS)
            for op in _FAULT_OPS
        }
        return PlatformControls(native_ids=True, finish=False, faults=faults)

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
        self.proxy.fail_next(fault)

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
    def proxy(self, engine: Engine) -> Iterator[FaultProxy]:
        proxy = FaultProxy(engine.socket)
        yield proxy
        proxy.close()

    @pytest.fixture
    def platform(self, engine: Engine, instance: str, proxy: FaultProxy) -> EngineController:
        return EngineController(engine, instance, proxy)

    @pytest.fixture
    def max_wait(self) -> float:
        return 90.0  # generous: this machine is shared; passing tests do not wait for it

    @pytest.fixture
    def native_states_sample(self) -> tuple[str, ...]:
        return ("created", "running", "paused", "restarting", "exited", "dead", "removing")

    @pytest.fixture
    async def adapter(
        self,
        request: pytest.FixtureRequest,
        engine: Engine,
        instance: str,
        proxy: FaultProxy,
        tmp_path: Path,
        wake: WakeSignal,
    ) -> AsyncIterator[DockerAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        params = getattr(request.node, "callspec", None)
        fault = params.params.get("fault") if params is not None else None
        # a short HTTP timeout only where the kit makes the engine say nothing (long enough
        # for the calls before the fault on a loaded machine)
        timeout = 4.0 if fault == Fault.TIMEOUT else 60.0
        config = config_for(engine, host=proxy.host, timeout_seconds=timeout)
        async with DockerAdapter(instance, config, deps) as adapter:
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
