"""Offers against the real stack: flavor choice, GPUs, quota, NoValidHost -> NoCapacity."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from openstack_support import Stack, make_config

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    FatalError,
    InvalidRequest,
    NoCapacity,
    Offer,
    Resources,
)

GIB = 1024**3


def req(**resources: object) -> ExecutionRequest:
    ext = resources.pop("extensions", {})
    return ExecutionRequest(
        job_id=f"job-{uuid.uuid4().hex[:10]}",
        command=("true",),
        resources=Resources(**resources),  # type: ignore[arg-type]
        extensions=ext,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("resources", "flavor"),
    [
        ({}, "ci.small"),
        ({"cores": 1}, "ci.small"),
        ({"cores": 1.5}, "ci.medium"),
        ({"cores": 2, "memory_bytes": GIB}, "ci.medium"),
        ({"cores": 1, "memory_bytes": 3 * GIB}, "ci.large"),
        ({"cores": 3}, "ci.large"),
        ({"gpus": 1}, "ci.gpu"),
        ({"cores": 1, "extensions": {"openstack.flavor": "ci.large"}}, "ci.large"),
    ],
)
async def test_smallest_fitting_flavor(
    adapter: OpenStackAdapter, ctx: CallContext, resources: dict[str, object], flavor: str
) -> None:
    offers = await adapter.offers(req(**resources), ctx)
    assert [o.terms["flavor"] for o in offers] == [flavor]
    offer = offers[0]
    assert Offer.from_json(offer.to_json()) == offer
    assert offer.adapter == adapter.name
    assert offer.resources.cores is not None
    assert offer.resources.cores >= float(resources.get("cores", 0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "resources",
    [
        {"cores": 64},
        {"memory_bytes": 64 * GIB},
        {"gpus": 2},
        {"cores": 8, "extensions": {"openstack.flavor": "ci.small"}},
    ],
)
async def test_nothing_fits_means_no_offer(
    adapter: OpenStackAdapter, ctx: CallContext, resources: dict[str, object]
) -> None:
    assert await adapter.offers(req(**resources), ctx) == []


async def test_offers_resolve_image_and_network_names(
    adapter: OpenStackAdapter, ctx: CallContext, admin_client: object
) -> None:
    [offer] = await adapter.offers(req(), ctx)
    from ivoa_broker_openstack._client import OpenStackClient

    assert isinstance(admin_client, OpenStackClient)
    assert offer.terms["image_id"] == await admin_client.find_image_id("ci-tiny")
    assert offer.terms["network_id"] == await admin_client.find_network_id("ci-net")


async def test_allow_list_limits_flavors(
    openstack_stack: Stack, tmp_path: Path, ctx: CallContext
) -> None:
    cfg = make_config(openstack_stack, flavors=("ci.large",))
    async with OpenStackAdapter("os-allow", cfg, AdapterDeps(data_dir=tmp_path)) as a:
        [offer] = await a.offers(req(cores=1), ctx)
        assert offer.terms["flavor"] == "ci.large"


async def test_unknown_configured_image_is_fatal(
    openstack_stack: Stack, tmp_path: Path, ctx: CallContext
) -> None:
    cfg = make_config(openstack_stack, image="no-such-image")
    async with OpenStackAdapter("os-noimg", cfg, AdapterDeps(data_dir=tmp_path)) as a:
        with pytest.raises(FatalError, match="no-such-image"):
            await a.offers(req(), ctx)


async def test_quota_names_the_blocking_limit(
    openstack_stack: Stack, tmp_path: Path, ctx: CallContext
) -> None:
    # project ci-quota: cores=2, ram=2048 MiB, instances=2 (seeded by openstack-up.sh)
    cfg = make_config(openstack_stack, cloud="ci-quota")
    async with OpenStackAdapter("os-quota", cfg, AdapterDeps(data_dir=tmp_path)) as a:
        assert [o.terms["flavor"] for o in await a.offers(req(cores=2), ctx)] == ["ci.medium"]
        with pytest.raises(NoCapacity) as info:
            await a.offers(req(cores=3), ctx)
        assert "cores" in info.value.message
        assert "limit 2" in info.value.message
        assert "ci.large" in info.value.message


async def test_gpu_flavor_without_gpu_hosts_is_no_capacity_and_leaves_nothing(
    adapter: OpenStackAdapter, ctx: CallContext
) -> None:
    request = req(gpus=1)
    [offer] = await adapter.offers(request, ctx)
    with pytest.raises(NoCapacity) as info:
        await adapter.submit(request, offer, ctx)
    assert "No valid host" in info.value.message
    assert await adapter.list_native(ctx) == {}


async def test_submit_refuses_before_any_side_effect(
    adapter: OpenStackAdapter, ctx: CallContext
) -> None:
    [offer] = await adapter.offers(req(), ctx)
    for bad in (
        ExecutionRequest(job_id="j-empty", command=()),
        ExecutionRequest(job_id="j-inter", kind="interactive", command=("true",)),
        ExecutionRequest(job_id="j-env", command=("true",), env={"not valid": "x"}),
    ):
        with pytest.raises(InvalidRequest):
            await adapter.submit(bad, offer, ctx)
    assert await adapter.list_native(ctx) == {}
