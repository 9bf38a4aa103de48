"""submit -> (guest stand-in) -> callback -> COMPLETED/ERROR, against the real stack."""

from __future__ import annotations

import uuid

import pytest
from ivoa_broker_openstack import OpenStackAdapter
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import Callbacks, wait_phase

from ivoa_broker.protocol import CallContext, ExecutionRequest, Handle, Phase
from ivoa_broker.testing import WakeSignal, assert_monotonic


def job(*command: str, env: dict[str, str] | None = None) -> ExecutionRequest:
    return ExecutionRequest(
        job_id=f"job-{uuid.uuid4().hex[:10]}", owner="tester", command=command, env=env or {}
    )


async def submit(
    adapter: OpenStackAdapter, request: ExecutionRequest, ctx: CallContext, callbacks: Callbacks
) -> Handle:
    offers = await adapter.offers(request, ctx)
    assert offers, "no offer"
    return callbacks.register(await adapter.submit(request, offers[0], ctx))


async def test_job_completes_with_results(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
) -> None:
    request = job(
        "sh",
        "-c",
        'echo "hello $GREETING"; printf 42 > "$IVOA_BROKER_OUTPUT_DIR/answer.txt"',
        env={"GREETING": "world"},
    )
    handle = await submit(adapter, request, ctx, callbacks)
    assert Handle.from_json(handle.to_json()) == handle
    history = await wait_phase(adapter, handle, ctx, wake, guest)
    assert_monotonic(history)
    final = history[-1]
    assert final.phase is Phase.COMPLETED, final
    assert final.exit_code == 0
    assert final.native_state == "SHUTOFF"
    assert callbacks.received == [request.job_id]
    assert handle.native_id in wake.woken
    results = {r.id: r for r in await adapter.results(handle, ctx)}
    assert set(results) == {"stdout", "stderr", "answer.txt"}
    assert results["answer.txt"].path is not None
    assert results["answer.txt"].path.read_text() == "42"
    assert results["stdout"].mime_type == "text/plain"
    assert "hello world" in await adapter.logs(handle, ctx)
    run = guest.runs[handle.native_id]
    assert run.delivered, run
    assert run.powered_off, run


async def test_failing_job_is_error_with_exit_code(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
) -> None:
    handle = await submit(adapter, job("sh", "-c", "echo oops >&2; exit 3"), ctx, callbacks)
    history = await wait_phase(adapter, handle, ctx, wake, guest)
    final = history[-1]
    assert final.phase is Phase.ERROR, final
    assert final.exit_code == 3
    assert final.message is not None
    assert "3" in final.message
    stderr = {r.id: r for r in await adapter.results(handle, ctx)}["stderr"]
    assert stderr.path is not None
    assert stderr.path.read_text() == "oops\n"


@pytest.mark.parametrize("fresh_name", [False, True])
async def test_restarted_instance_reports_the_same(
    adapter: OpenStackAdapter,
    guest: GuestStandIn,
    callbacks: Callbacks,
    ctx: CallContext,
    wake: WakeSignal,
    fresh_name: bool,
) -> None:
    handle = await submit(adapter, job("true"), ctx, callbacks)
    history = await wait_phase(adapter, handle, ctx, wake, guest)
    stored = Handle.from_json(handle.to_json())
    async with OpenStackAdapter(adapter.name, adapter.config, adapter.deps) as fresh:
        again = (await fresh.status_many([stored], ctx))[handle.native_id]
        assert (again.phase, again.exit_code) == (history[-1].phase, history[-1].exit_code)
        if fresh_name:
            assert (await fresh.list_native(ctx)) == {handle.native_id: stored.state["job_id"]}
