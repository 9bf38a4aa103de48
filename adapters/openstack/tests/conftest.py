"""Fixtures: one real OpenStack control plane per test session, adapters, the guest stand-in.

The stack is started once per session by ``stack/openstack-up.sh`` and stopped at the end.
``IVOA_OPENSTACK_CLOUDS=/path/clouds.yaml`` reuses a running stack instead (not stopped).
Without the installed stack the stack tests are skipped with the reason, except under CI
(``CI`` set), where ``stack/install.sh`` is run first and a failure fails the tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from ivoa_broker_openstack._client import OpenStackClient
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import (
    DEFAULT_PORTS,
    Callbacks,
    Stack,
    _installed,
    _run,
    free_ports,
    make_config,
    stack_env,
)

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import WakeSignal


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk 4.22 emits its own pending deprecations from inside the SDK on every
    # connection and list call (InfluxDB: loader.py always passes a non-empty influxdb_config;
    # proxy.py: "'service_type' parameter is unnecesary"), and deprecation warnings when an
    # API answer merely contains a deprecated field (limits: maxPersonality); not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings._RemovedInSDKWarning")
    config.addinivalue_line(
        "filterwarnings", "ignore::openstack.warnings.OpenStackDeprecationWarning"
    )


#: start times (s) of the stacks this session started
_STARTED: list[str] = []


@pytest.fixture(scope="session")
def openstack_stack() -> Iterator[Stack]:
    """The stack for this run: a fresh state folder and free ports of its own, so a second
    run on the same machine starts a second stack beside it (IVOA_OPENSTACK_CLOUDS reuses
    a running stack on the default ports instead)."""
    reuse = os.environ.get("IVOA_OPENSTACK_CLOUDS")
    if reuse:
        yield Stack(Path(reuse))
        return
    if not _installed():
        if not os.environ.get("CI"):
            pytest.skip(
                "the OpenStack test stack is not installed: run adapters/openstack/stack/install.sh"
            )
        _run("install.sh", 1800)
    # not under pytest's 0700 tmp: MariaDB and RabbitMQ run as their own users
    base = Path(tempfile.mkdtemp(prefix="ivoa-broker-openstack-", dir="/tmp"))
    base.chmod(0o755)
    ports = free_ports(DEFAULT_PORTS)
    env = stack_env(base, ports, f"rabbit-{base.name.rsplit('-', 1)[1]}@localhost")
    try:
        _run("openstack-up.sh", 1200, env)
        _STARTED.append((base / "startup-seconds").read_text().strip())
        yield Stack(base / "clouds.yaml", ports)
    finally:
        _run("openstack-down.sh", 600, env)
        shutil.rmtree(base, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for seconds in _STARTED:
        terminalreporter.write_line(f"openstack test stack: openstack-up.sh took {seconds} s")


@pytest.fixture
def ctx() -> CallContext:
    return CallContext(owner="tester", request_id="t")


@pytest.fixture
def wake() -> WakeSignal:
    return WakeSignal()


@pytest.fixture
def instance_name() -> str:
    return f"os-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def adapter(
    openstack_stack: Stack, tmp_path: Path, wake: WakeSignal, instance_name: str, ctx: CallContext
) -> AsyncIterator[OpenStackAdapter]:
    deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
    async with OpenStackAdapter(instance_name, make_config(openstack_stack), deps) as a:
        yield a
        # leave nothing behind on the shared stack
        for native_id in await a.list_native(ctx):
            await a.client.delete_server(native_id)


@pytest.fixture
async def admin_client(openstack_stack: Stack) -> AsyncIterator[OpenStackClient]:
    client = OpenStackClient(make_config(openstack_stack))
    await client.open()
    yield client
    await client.close()


@pytest.fixture
def callbacks(adapter: OpenStackAdapter) -> Callbacks:
    return Callbacks(adapter)


@pytest.fixture
async def guest(
    admin_client: OpenStackClient, adapter: OpenStackAdapter, callbacks: Callbacks, tmp_path: Path
) -> AsyncIterator[GuestStandIn]:
    """Runs the guests of this test's adapter instance only (other tests' servers are left)."""
    standin = GuestStandIn(
        admin_client,
        tmp_path / "guests",
        deliver=callbacks.deliver,
        skip=lambda s: (
            s.metadata.get("ivoa_broker_instance") != adapter.name
            or s.metadata.get("test_hold") == "1"
        ),
    )
    async with standin:
        yield standin
