"""The conformance kit against the real stack, with the guest stand-in running the jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from ivoa_broker_openstack._adapter import META_INSTANCE
from ivoa_broker_openstack._client import OpenStackClient
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import MAX_WAIT, Callbacks, FaultyTransport, Stack, make_config

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import AdapterConformance, Fault, PlatformControls, WakeSignal

#: what the SDK lets through: a DELETE's body is never read, so GARBAGE cannot reach
#: cancel/cleanup; NOT_FOUND only where the kit asks for it
_FAULTS = {
    op: frozenset(
        f
        for f in Fault
        if (f is not Fault.NOT_FOUND or op in ("status", "cancel", "cleanup"))
        and (f is not Fault.GARBAGE or op not in ("cancel", "cleanup"))
    )
    for op in ("health", "offers", "submit", "status", "cancel", "cleanup", "list_native")
}


class NovaServers:
    """Controller for the real stack: lists this instance's servers; injects HTTP faults.

    Faults are injected under openstacksdk, at the requests transport of the adapter's
    keystoneauth session, for Nova only, for as many requests as the adapter may retry.
    """

    def __init__(self, client: OpenStackClient, instance: str, nova_url: str) -> None:
        self.client = client
        self.nova_url = nova_url
        self.instance = instance
        self.adapter: OpenStackAdapter | None = None
        self.transports: list[FaultyTransport] = []

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults=_FAULTS)

    def disarm(self) -> None:
        for transport in self.transports:
            transport.count = 0

    async def native_ids(self) -> set[str]:
        return {
            s.id
            for s in await self.client.list_servers("ivoa-broker-")
            if s.metadata.get(META_INSTANCE) == self.instance
            and s.status not in ("DELETED", "SOFT_DELETED")
            and s.task_state != "deleting"
        }

    async def fail_next(self, op: str, fault: Fault) -> None:
        assert self.adapter is not None
        self.disarm()
        if fault in (Fault.UNAVAILABLE, Fault.TIMEOUT, Fault.CONNECTION):
            count = 1 + self.adapter.config.api_retries  # the adapter retries these
        elif fault is Fault.AUTH:
            count = 2  # keystoneauth re-authenticates once on a 401 and repeats the request
        else:
            count = 1
        transport = FaultyTransport(fault.value, count, self.nova_url)
        self.adapter.client.conn.session.session.mount(self.nova_url, transport)
        self.transports.append(transport)

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("real guests end by themselves")


class TestOpenStackConformance(AdapterConformance):
    @pytest.fixture
    def platform(
        self, admin_client: OpenStackClient, instance_name: str, openstack_stack: Stack
    ) -> NovaServers:
        return NovaServers(admin_client, instance_name, openstack_stack.nova_url)

    @pytest.fixture
    async def adapter(
        self,
        openstack_stack: Stack,
        platform: NovaServers,
        admin_client: OpenStackClient,
        instance_name: str,
        tmp_path: Path,
        wake: WakeSignal,
        ctx: CallContext,
    ) -> AsyncIterator[OpenStackAdapter]:
        cfg = make_config(
            openstack_stack,
            cloud=None,
            clouds_yaml=None,
            auth_url=openstack_stack.keystone_url,
            username="admin",
            password="adminpw",
            project_name="admin",
            region_name="RegionOne",
        )
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        async with OpenStackAdapter(instance_name, cfg, deps) as a:
            platform.adapter = a
            callbacks = Callbacks(a)
            standin = GuestStandIn(
                admin_client,
                tmp_path / "guests",
                deliver=callbacks.deliver,
                skip=lambda s: s.metadata.get(META_INSTANCE) != instance_name,
            )
            async with standin:
                yield a
            platform.disarm()
            for native_id in await a.list_native(ctx):
                await a.client.delete_server(native_id)
            assert standin.errors == []

    @pytest.fixture
    def max_wait(self) -> float:
        return MAX_WAIT

    @pytest.fixture
    def concurrent_submits(self) -> int:
        # each submit boots a real Nova server (and its cleanup deletes it): 8 at once
        # still races the adapter's calls, in a third of the time of the kit's 20
        return 8

    @pytest.fixture
    def known_secret(self) -> str | None:
        return "adminpw"

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"cloud": "local", "image": "ci-tiny"}

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return (
            "BUILD",
            "ACTIVE",
            "SHUTOFF",
            "ERROR",
            "DELETED",
            "SOFT_DELETED",
            "PAUSED",
            "SUSPENDED",
            "SHELVED",
            "SHELVED_OFFLOADED",
            "REBOOT",
            "HARD_REBOOT",
            "RESIZE",
            "VERIFY_RESIZE",
            "MIGRATING",
            "RESCUE",
            "UNKNOWN",
            "GONE",
        )
