"""Real SDK + keystoneauth error paths: HTTP faults injected under the SDK (requests transport)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from openstack_support import FaultyTransport, Stack

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    CallContext,
    ExecutionRequest,
    FatalError,
    TransientError,
)

Inject = Callable[[str, int], FaultyTransport]


@pytest.fixture
def inject(adapter: OpenStackAdapter, openstack_stack: Stack) -> Iterator[Inject]:
    """Mounts a faulty transport for Nova on the adapter's session; removed after the test."""
    transports: list[FaultyTransport] = []

    def arm(kind: str, count: int) -> FaultyTransport:
        transport = FaultyTransport(kind, count, openstack_stack.nova_url)
        adapter.client.conn.session.session.mount(openstack_stack.nova_url, transport)
        transports.append(transport)
        return transport

    yield arm
    for transport in transports:
        transport.count = 0  # the adapter fixture's teardown talks to Nova again


def req() -> ExecutionRequest:
    return ExecutionRequest(job_id=f"job-{uuid.uuid4().hex[:10]}", command=("true",))


@pytest.mark.parametrize("kind", ["unavailable", "connection", "timeout"])
async def test_transient_faults_are_retried(
    adapter: OpenStackAdapter, ctx: CallContext, inject: Inject, kind: str
) -> None:
    # config: api_retries=3, so two faults in a row are absorbed
    transport = inject(kind, 2)
    assert await adapter.list_native(ctx) == {}
    assert transport.injected == 2


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("unavailable", TransientError),
        ("connection", TransientError),
        ("timeout", TransientError),
        ("auth", AuthError),
        ("forbidden", AuthError),
        ("garbage", FatalError),
    ],
)
async def test_lasting_faults_map_to_the_protocol_errors(
    adapter: OpenStackAdapter,
    ctx: CallContext,
    inject: Inject,
    kind: str,
    error: type[AdapterError],
) -> None:
    inject(kind, 1000)
    with pytest.raises(error):
        await adapter.status_many(
            [adapter._handle("j", "00000000-0000-0000-0000-000000000000", "", _flavor())], ctx
        )
    with pytest.raises(error):
        await adapter.offers(req(), ctx)
    health = await adapter.health()
    assert not health.ok


def _flavor() -> Any:
    from ivoa_broker_openstack._client import FlavorInfo

    return FlavorInfo("f", "f", 1, 1, 1)
