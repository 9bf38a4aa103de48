"""Fixtures of the CANFAR adapter tests: one skaha emulator over real HTTP on
loopback for the whole session, and a fresh emulated user per test (so tests
never see each other's sessions)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from canfar_support import config_for
from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar.emulator import EmulatorServer, EmulatorSettings, SkahaEmulator

from ivoa_broker.protocol import AdapterDeps, CallContext


@pytest.fixture(scope="session")
def skaha() -> Iterator[EmulatorServer]:
    settings = EmulatorSettings(tokens={}, start_delay=0.02, terminate_delay=0.02)
    with EmulatorServer(SkahaEmulator(settings), log_level="critical") as server:
        yield server


@pytest.fixture
def emulator(skaha: EmulatorServer) -> Iterator[SkahaEmulator]:
    emulator = skaha.emulator
    yield emulator
    emulator.faults.clear()
    emulator.hold = False
    emulator.release()


@pytest.fixture
def user(emulator: SkahaEmulator) -> tuple[str, str]:
    """``(userid, token)`` of a user the emulator knows, new for each test."""
    userid = f"u{uuid.uuid4().hex[:10]}"
    token = f"tok-{uuid.uuid4().hex}"
    emulator.add_user(token, userid)
    return userid, token


@pytest.fixture
def token(user: tuple[str, str]) -> str:
    return user[1]


@pytest.fixture
def config(skaha: EmulatorServer, token: str) -> CanfarConfig:
    return config_for(skaha.url, token)


@pytest.fixture
def deps(tmp_path: Path) -> AdapterDeps:
    return AdapterDeps(data_dir=tmp_path / "data")


@pytest.fixture
async def canfar(config: CanfarConfig, deps: AdapterDeps) -> AsyncIterator[CanfarAdapter]:
    async with CanfarAdapter("canfar-test", config, deps) as adapter:
        yield adapter


@pytest.fixture
def call() -> CallContext:
    return CallContext(owner="alice", request_id="t")
