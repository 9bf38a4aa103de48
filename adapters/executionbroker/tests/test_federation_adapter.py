"""The adapter against a real remote broker, for what the kit does not cover:
remote expiry at submit, a remote that is down, the loop guard's refusals, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from federation_support import IMAGE, NODE_TOKENS, Federation, free_port
from ivoa_broker_federation import ExecutionBrokerAdapter, FederationConfig

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    Conflict,
    ExecutionRequest,
    TransientError,
    utcnow,
)

CTX = CallContext(owner="svc", request_id="t")


def request(job_id: str, **labels: str) -> ExecutionRequest:
    return ExecutionRequest(job_id=job_id, command=("python3", "-c", "print(1)"), labels=labels)


async def opened(url: str, tmp_path: Path, **extra: object) -> ExecutionBrokerAdapter:
    config = FederationConfig.model_validate(
        {"base_url": url, "token": NODE_TOKENS["svc"], "default_image": IMAGE, **extra}
    )
    adapter = ExecutionBrokerAdapter("remote", config, AdapterDeps(data_dir=tmp_path))
    await adapter.open()
    return adapter


@pytest.fixture
async def node_b(federation: Federation, tmp_path: Path) -> AsyncIterator[ExecutionBrokerAdapter]:
    adapter = await opened(federation.b.url, tmp_path, node="node-b")
    yield adapter
    await adapter.aclose()


async def test_submit_after_the_remote_offer_expired_is_a_conflict_leaving_nothing(
    node_b: ExecutionBrokerAdapter,
) -> None:
    offers = await node_b.offers(request("exp-1"), CTX)
    assert offers
    offer = offers[0]
    assert offer.expires_at is not None and offer.expires_at <= utcnow() + timedelta(seconds=6)
    await asyncio.sleep((offer.expires_at - utcnow()).total_seconds() + 1.5)
    # pretend the front's clock says it is still valid: the remote's refusal is the answer
    stale = dataclasses.replace(offer, expires_at=utcnow() + timedelta(seconds=60))
    with pytest.raises(Conflict, match="node-b"):
        await node_b.submit(request("exp-1"), stale, CTX)
    assert await node_b.list_native(CTX) == {}
    with pytest.raises(Conflict, match="expired"):
        await node_b.submit(request("exp-1"), offer, CTX)


async def test_a_remote_that_is_down_is_named(tmp_path: Path) -> None:
    adapter = await opened(f"http://127.0.0.1:{free_port()}", tmp_path, node="gone")
    try:
        with pytest.raises(TransientError, match="gone"):
            await adapter.offers(request("down-1"), CTX)
        health = await adapter.health()
        assert not health.ok and "gone" in health.message
    finally:
        await adapter.aclose()


async def test_the_hop_list_is_honoured(node_b: ExecutionBrokerAdapter) -> None:
    long = request("hops-1", **{"eb.hops": "a,b,c,d"})
    assert await node_b.offers(long, CTX) == []
    assert "max_hops" in (node_b.explain_refusal(long) or "")
    # the remote's id is learnt from its first answer; it is then never asked again
    assert await node_b.offers(request("hops-2", **{"eb.hops": "front"}), CTX)
    back = request("hops-3", **{"eb.hops": "front,node-b"})
    assert "loop" in (node_b.explain_refusal(back) or "")
    assert await node_b.offers(back, CTX) == []


def test_tokens_never_show(node_b: ExecutionBrokerAdapter) -> None:
    assert NODE_TOKENS["svc"] not in repr(node_b)
    assert NODE_TOKENS["svc"] not in repr(node_b.config)
    assert NODE_TOKENS["svc"] not in repr(node_b.remote)
