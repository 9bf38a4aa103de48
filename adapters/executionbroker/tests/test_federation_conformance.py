"""The adapter conformance kit against a real remote broker (node ``b``, a real
ivoa-broker process whose container platform runs commands as local processes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import httpx
import pytest
from federation_support import IMAGE, NODE_TOKENS, Federation, bearer
from ivoa_broker_federation import ExecutionBrokerAdapter, FederationConfig

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, WakeSignal
from ivoa_broker.testing.controller import Fault, PlatformControls

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"


class RemoteBrokerPlatform:
    """What exists on the remote: the UWS jobs of the service identity."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False)

    async def native_ids(self) -> set[str]:
        async with httpx.AsyncClient(headers=bearer(NODE_TOKENS["svc"])) as client:
            response = await client.get(f"{self.url}/jobs")
        response.raise_for_status()
        root = ET.fromstring(response.content)
        return {
            f"{self.url}/sessions/{ref.get('id')}"
            for ref in root.iter(f"{UWS}jobref")
            if (ref.findtext(f"{UWS}phase") or "") != "ARCHIVED"
        }

    def fail_next(self, op: str, fault: Fault) -> Awaitable[None] | None:
        raise NotImplementedError("no faults are injected into a real broker")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError


class TestFederationConformance(AdapterConformance):
    @pytest.fixture
    def platform(self, federation: Federation) -> RemoteBrokerPlatform:
        return RemoteBrokerPlatform(federation.b.url)

    @pytest.fixture
    def known_secret(self) -> str:
        return NODE_TOKENS["svc"]

    @pytest.fixture
    def concurrent_submits(self) -> int:
        return 6

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return ("PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "RUNNING")

    @pytest.fixture
    async def adapter(
        self, federation: Federation, tmp_path: Path, wake: WakeSignal
    ) -> AsyncIterator[ExecutionBrokerAdapter]:
        config = FederationConfig(
            base_url=federation.b.url,
            node="node-b",
            token=NODE_TOKENS["svc"],  # type: ignore[arg-type]
            default_image=IMAGE,
        )
        deps = AdapterDeps(data_dir=tmp_path, wake=wake)
        async with ExecutionBrokerAdapter("remote-b", config, deps) as adapter:
            yield adapter
