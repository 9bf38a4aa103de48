"""The conformance kit against the Azimuth adapter.

By default the platform is the emulated portal over real HTTP, its machines running the
jobs' user data as local processes that report to a stand-in of the broker's callback
route. With ``--adapter-live azimuth`` and ``AZIMUTH_URL``, ``AZIMUTH_APPCRED_ID``,
``AZIMUTH_APPCRED_SECRET`` set (optionally ``AZIMUTH_TENANCY``, ``AZIMUTH_IMAGE`` and
``AZIMUTH_CALLBACK_URL``: a broker callback prefix the portal's machines can reach), the
same class runs against a real portal.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from azimuth_support import TIMEOUT, Callbacks, EmulatedAzimuth, LiveAzimuth, config_for
from ivoa_broker_azimuth import AzimuthAdapter, AzimuthConfig
from ivoa_broker_azimuth.emulator import AzimuthEmulator, EmulatorServer

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import AdapterConformance, PlatformController, WakeSignal

_LIVE_VARS = ("AZIMUTH_URL", "AZIMUTH_APPCRED_ID", "AZIMUTH_APPCRED_SECRET")


class TestAzimuthConformance(AdapterConformance):
    @pytest.fixture
    def live(self, adapter_live: Callable[[str], bool]) -> bool:
        if not adapter_live("azimuth"):
            return False
        missing = [v for v in _LIVE_VARS if not os.environ.get(v)]
        if missing:
            pytest.skip(f"live Azimuth run needs {', '.join(missing)}")
        return True

    @pytest.fixture
    def known_secret(self, live: bool, cred: tuple[str, str]) -> str:
        return os.environ["AZIMUTH_APPCRED_SECRET"] if live else cred[1]

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"url": "https://portal.example.org", "token": "a-token"}

    @pytest.fixture
    def adapter_config(
        self, live: bool, portal: EmulatorServer, cred: tuple[str, str]
    ) -> AzimuthConfig:
        if not live:
            return config_for(portal.url, cred, timeout_seconds=TIMEOUT)
        return AzimuthConfig(
            url=os.environ["AZIMUTH_URL"],
            application_credential_id=os.environ["AZIMUTH_APPCRED_ID"],
            application_credential_secret=os.environ["AZIMUTH_APPCRED_SECRET"],  # type: ignore[arg-type]
            tenancy=os.environ.get("AZIMUTH_TENANCY"),
            image=os.environ.get("AZIMUTH_IMAGE"),
        )

    @pytest.fixture
    async def adapter(
        self,
        live: bool,
        adapter_config: AzimuthConfig,
        tmp_path: Path,
        wake: WakeSignal,
        callbacks: Callbacks,
        instance_name: str,
    ) -> AsyncIterator[AzimuthAdapter]:
        prefix = os.environ.get("AZIMUTH_CALLBACK_URL") if live else None
        deps = AdapterDeps(
            data_dir=tmp_path / "data",
            wake=wake,
            callback_url=prefix or callbacks.prefix(instance_name),
        )
        async with AzimuthAdapter(instance_name, adapter_config, deps) as adapter:
            callbacks.register(adapter)
            yield adapter
            callbacks.unregister(adapter)

    @pytest.fixture
    def platform(
        self,
        live: bool,
        adapter: AzimuthAdapter,
        ctx: CallContext,
        emulator: AzimuthEmulator,
        tenancy_id: str,
    ) -> PlatformController:
        if live:
            return LiveAzimuth(adapter, ctx)
        return EmulatedAzimuth(emulator, tenancy_id)

    @pytest.fixture
    def max_wait(self, live: bool) -> float:
        return 1200.0 if live else 30.0

    @pytest.fixture
    def concurrent_submits(self, live: bool) -> int:
        return 2 if live else 12

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        machine = ("BUILD", "ACTIVE", "SHUTOFF", "ERROR", "GONE")
        app = ("Pending", "Installing", "Deployed", "Failed", "Uninstalling", "GONE")
        cluster = ("CONFIGURING", "READY", "DELETING", "ERROR", "GONE")
        return (
            *(f"machine:{s}" for s in machine),
            *(f"app:{s}" for s in app),
            *(f"cluster:{s}" for s in cluster),
        )
