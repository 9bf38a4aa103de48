"""Fixtures of the CANFAR adapter tests: one skaha emulator over real HTTP (and
HTTPS with X.509 client certificates from a test CA made here) on loopback for
the whole session, and a fresh emulated user per test (so tests never see each
other's sessions)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from canfar_support import config_for
from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar.emulator import EmulatorServer, EmulatorSettings, SkahaEmulator
from ivoa_broker_canfar.testpki import TestPKI, make_test_pki

from ivoa_broker.protocol import AdapterDeps, CallContext

#: the users with a client certificate of the test CA
X509_USERS = ("x509user", "x509other")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"), X509_USERS)


@pytest.fixture(scope="session")
def skaha(pki: TestPKI) -> Iterator[EmulatorServer]:
    settings = EmulatorSettings(tokens={}, start_delay=0.02, terminate_delay=0.02)
    emulator = SkahaEmulator(settings)
    with EmulatorServer(emulator, log_level="critical", tls=pki) as server:
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
