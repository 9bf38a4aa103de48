"""The conformance kit against the JupyterHub adapter on a real hub.

The kit's requests are commands (``sh -c 'echo hello; ...'``): the adapter
runs them on a named server through a kernel, like a notebook run. Each test
spawns real single-user servers. With ``--adapter-live=jupyterhub`` and
``JUPYTERHUB_URL`` + ``JUPYTERHUB_TOKEN`` set, the same class runs against
that hub instead (the token needs the scopes listed in the README).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hub_support import FaultTransport, FaultyHubPlatform, adapter_config
from ivoa_broker_jupyterhub import JupyterHubAdapter, JupyterHubConfig
from ivoa_broker_jupyterhub._naming import job_id_from_server, native_id
from ivoa_broker_jupyterhub.client import HubClient
from ivoa_broker_jupyterhub.localhub import LocalHub
from pydantic import SecretStr

from ivoa_broker.protocol import AdapterDeps, Secret
from ivoa_broker.testing import AdapterConformance, PlatformController, PlatformControls, WakeSignal


class LiveHub:
    """The kit's view of a live hub given by URL and token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, Secret(token)

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True)

    async def native_ids(self) -> set[str]:
        async with HubClient(self.url, self.token) as client:
            return {
                native_id(u.name, n)
                for u in await client.users()
                for n in u.servers
                if job_id_from_server("ivb", n) is not None
            }

    def fail_next(self, op: str, fault: object) -> None:
        raise AssertionError("no faults on a live hub")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise AssertionError("tasks end by themselves")


class TestJupyterHubConformance(AdapterConformance):
    @pytest.fixture
    def live(self, adapter_live: Callable[[str], bool]) -> bool:
        if not adapter_live("jupyterhub"):
            return False
        if not (os.environ.get("JUPYTERHUB_URL") and os.environ.get("JUPYTERHUB_TOKEN")):
            pytest.skip("a live JupyterHub run needs JUPYTERHUB_URL and JUPYTERHUB_TOKEN")
        return True

    @pytest.fixture
    def adapter_config(self, live: bool, request: pytest.FixtureRequest) -> JupyterHubConfig:
        if live:
            return JupyterHubConfig(
                url=os.environ["JUPYTERHUB_URL"], token=SecretStr(os.environ["JUPYTERHUB_TOKEN"])
            )
        hub: LocalHub = request.getfixturevalue("hub")
        return adapter_config(hub, token=hub.token.reveal())

    @pytest.fixture
    def known_secret(self, adapter_config: JupyterHubConfig) -> str:
        return adapter_config.service_token().reveal()

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"token": "a-service-token"}

    @pytest.fixture
    async def faults(self) -> AsyncIterator[FaultTransport]:
        transport = FaultTransport()
        yield transport
        transport.clear()

    @pytest.fixture
    async def adapter(
        self,
        live: bool,
        adapter_config: JupyterHubConfig,
        tmp_path: Path,
        wake: WakeSignal,
        faults: FaultTransport,
    ) -> AsyncIterator[JupyterHubAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        transport = None if live else faults
        async with JupyterHubAdapter(
            "jupyterhub-conformance", adapter_config, deps, transport=transport
        ) as adapter:
            yield adapter

    @pytest.fixture
    def platform(
        self, live: bool, request: pytest.FixtureRequest, faults: FaultTransport
    ) -> PlatformController:
        if live:
            return LiveHub(os.environ["JUPYTERHUB_URL"], os.environ["JUPYTERHUB_TOKEN"])
        return FaultyHubPlatform(request.getfixturevalue("hub"), faults)

    @pytest.fixture
    def max_wait(self) -> float:
        return 180.0

    @pytest.fixture
    def concurrent_submits(self) -> int:
        return 3

    @pytest.fixture
    def native_states_sample(self) -> tuple[str, ...]:
        return ("spawning", "preparing", "running", "stopping", "succeeded", "failed", "cancelled")
