"""Fixtures of the Azimuth adapter tests: one emulated portal over real HTTP on loopback
and one stand-in of the broker's callback route for the whole session; a fresh tenancy
and application credential per test (so tests never see each other's machines)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from azimuth_support import Callbacks, config_for
from ivoa_broker_azimuth import AzimuthAdapter, AzimuthConfig
from ivoa_broker_azimuth.emulator import AzimuthEmulator, EmulatorServer, EmulatorSettings

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import WakeSignal


@pytest.fixture(scope="session")
def portal() -> Iterator[EmulatorServer]:
    settings = EmulatorSettings(
        appcreds={}, boot_delay=0.02, start_delay=0.02, terminate_delay=0.02
    )
    with EmulatorServer(AzimuthEmulator(settings)) as server:
        yield server


@pytest.fixture(scope="session")
def callbacks() -> Iterator[Callbacks]:
    standin = Callbacks()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def emulator(portal: EmulatorServer) -> Iterator[AzimuthEmulator]:
    emulator = portal.emulator
    yield emulator
    emulator.faults.clear()


@pytest.fixture
def tenancy_id(emulator: AzimuthEmulator) -> str:
    """A new tenancy with room for the concurrency test."""
    return emulator.add_tenancy(f"t-{uuid.uuid4().hex[:8]}", cpus=256, ram=2**20, machines=64).id


@pytest.fixture
def cred(emulator: AzimuthEmulator, tenancy_id: str) -> tuple[str, str]:
    """``(application credential id, secret)`` of a user of the test's tenancy."""
    cred_id, secret = uuid.uuid4().hex, f"s3cret-{uuid.uuid4().hex}"
    emulator.add_appcred(cred_id, secret, f"user-{cred_id[:6]}", tenancy_id)
    return cred_id, secret


@pytest.fixture
def config(portal: EmulatorServer, cred: tuple[str, str]) -> AzimuthConfig:
    return config_for(portal.url, cred)


@pytest.fixture
def wake() -> WakeSignal:
    return WakeSignal()


@pytest.fixture
def instance_name() -> str:
    return f"az-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def deps(tmp_path: Path, callbacks: Callbacks, instance_name: str, wake: WakeSignal) -> AdapterDeps:
    return AdapterDeps(
        data_dir=tmp_path / "data", wake=wake, callback_url=callbacks.prefix(instance_name)
    )


@pytest.fixture
async def azimuth(
    config: AzimuthConfig, deps: AdapterDeps, instance_name: str, callbacks: Callbacks
) -> AsyncIterator[AzimuthAdapter]:
    async with AzimuthAdapter(instance_name, config, deps) as adapter:
        callbacks.register(adapter)
        yield adapter
        callbacks.unregister(adapter)


@pytest.fixture
def call() -> CallContext:
    return CallContext(owner="alice", request_id="t")
