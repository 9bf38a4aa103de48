"""The kit's tests fail for adapters that break the contract (the kit can fail).

Each case subclasses the reference adapter with one bug and calls the one kit
test that should catch it; that test must raise ``AssertionError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from ivoa_broker.protocol import (
    AdapterConfig,
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    FatalError,
    Handle,
    NotFound,
    Offer,
    Phase,
    Status,
)
from ivoa_broker.testing import AdapterConformance, Fault, WakeSignal, new_job_id

from .memory_rest import TaskAdapter, TaskConfig, TaskService

CTX = CallContext(owner="conformance")
KIT = AdapterConformance()


def ok() -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id(), command=("sh", "-c", "echo hello"))


def long() -> ExecutionRequest:
    return ExecutionRequest(job_id=new_job_id(), command=("sleep", "600"))


@pytest.fixture
def service() -> TaskService:
    return TaskService()


@pytest.fixture
async def client(service: TaskService) -> AsyncIterator[httpx.AsyncClient]:
    async with service.http.client() as c:
        yield c


def build(cls: type[TaskAdapter], client: httpx.AsyncClient, tmp_path: Path) -> TaskAdapter:
    config = TaskConfig(token=SecretStr("tok-secret-1"))
    return cls("tasks-test", config, AdapterDeps(data_dir=tmp_path), client)


class LeakyRepr(TaskAdapter):
    def __repr__(self) -> str:
        return f"LeakyRepr(token={self.cfg.token.get_secret_value()})"


class RaisesOnUnknownState(TaskAdapter):
    def map_state(self, native_state: str) -> Phase:
        return self.state_map[native_state]


class ReportsPending(TaskAdapter):
    state_map: ClassVar[Mapping[str, Phase]] = {**TaskAdapter.state_map, "queued": Phase.PENDING}


class OffersCreateTasks(TaskAdapter):
    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        await self._call("POST", "/tasks", json={"job_id": new_job_id(), "command": ["x"]})
        return await super().offers(request, ctx)


class ValidatesLate(TaskAdapter):
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        body = {"job_id": request.job_id, "command": list(request.command)}
        task = (await self._call("POST", "/tasks", json=body)).json()
        return Handle(adapter=self.name, native_id=task["id"])


class CleanupNotIdempotent(TaskAdapter):
    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        await self._call("DELETE", f"/tasks/{handle.native_id}")


class AuthIsFatal(TaskAdapter):
    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code == 401:
            raise FatalError("refused")
        return await super()._call(method, path, **kwargs)


class CancelOverridesEnd(TaskAdapter):
    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        found = dict(await super().status_many(handles, ctx))
        for h in handles:
            if h.cancel_requested and h.native_id in found:
                found[h.native_id] = dataclasses.replace(found[h.native_id], phase=Phase.ABORTED)
        return found


class ForgetsOnRestart(TaskAdapter):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.mine: set[str] = set()

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        handle = await super().submit(request, offer, ctx)
        self.mine.add(handle.native_id)
        return handle

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        return await super().status_many([h for h in handles if h.native_id in self.mine], ctx)


class HealthRaises(TaskAdapter):
    async def health(self) -> Any:
        await self._call("GET", "/health")
        return await super().health()


class LosesExitCode(TaskAdapter):
    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        found = await super().status_many(handles, ctx)
        return {k: dataclasses.replace(v, exit_code=None) for k, v in found.items()}


def test_secret_in_repr_is_caught(client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        KIT.test_metadata_no_secret_in_reprs(build(LeakyRepr, client, tmp_path), "tok-secret-1")


def test_raising_map_state_is_caught(client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        KIT.test_state_map_unknown_string_is_unknown(build(RaisesOnUnknownState, client, tmp_path))


def test_broker_only_phase_is_caught(client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="broker-only"):
        KIT.test_state_map_values_are_adapter_phases(build(ReportsPending, client, tmp_path))


def test_incomplete_state_map_is_caught(client: httpx.AsyncClient, tmp_path: Path) -> None:
    adapter = build(TaskAdapter, client, tmp_path)
    with pytest.raises(AssertionError, match="archived-by-admin"):
        KIT.test_state_map_is_total_over_sample(adapter, ("queued", "archived-by-admin"))


def test_extra_config_keys_must_be_refused(client: httpx.AsyncClient, tmp_path: Path) -> None:
    class Lax(TaskConfig):
        model_config = {"extra": "allow", "frozen": True}

    class LaxAdapter(TaskAdapter):
        config_model: ClassVar[type[AdapterConfig]] = Lax

    with pytest.raises(pytest.fail.Exception):
        KIT.test_metadata_config_model_accepts_defaults(build(LaxAdapter, client, tmp_path), {})


async def test_offer_side_effects_are_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError):
        await KIT.test_offers_have_no_side_effects(
            build(OffersCreateTasks, client, tmp_path), service, ok(), ok(), CTX
        )


async def test_late_validation_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    invalid = ExecutionRequest(job_id=new_job_id(), command=())
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        await KIT.test_submit_invalid_fails_before_side_effects(
            build(ValidatesLate, client, tmp_path), service, ok(), invalid, CTX
        )


async def test_non_idempotent_cleanup_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    track: list[Handle] = []
    with pytest.raises(NotFound):
        await KIT.test_cleanup_is_idempotent_and_removes_native_object(
            build(CleanupNotIdempotent, client, tmp_path),
            service,
            ok(),
            CTX,
            5.0,
            WakeSignal(),
            track,
        )


async def test_wrong_error_mapping_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # the kit expects AuthError, so the adapter's FatalError escapes the test
    with pytest.raises(FatalError):
        await KIT.test_errors_map_to_protocol_hierarchy(
            "status", Fault.AUTH, build(AuthIsFatal, client, tmp_path), service, long(), CTX, []
        )


async def test_cancel_rewriting_completed_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError, match="ABORTED"):
        await KIT.test_cancel_after_completion_stays_completed(
            build(CancelOverridesEnd, client, tmp_path), service, ok(), CTX, 5.0, WakeSignal(), []
        )


async def test_restart_loss_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    adapter = build(ForgetsOnRestart, client, tmp_path)
    fresh = build(ForgetsOnRestart, client, tmp_path)
    with pytest.raises(AssertionError, match="lost the task"):
        await KIT.test_restart_fresh_instance_sees_running_task_and_can_cancel_it(
            adapter, fresh, long(), CTX, 5.0, WakeSignal(), []
        )


async def test_health_raising_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="task service answered 503"):
        await KIT.test_health_reports_trouble_without_raising(
            build(HealthRaises, client, tmp_path), service, Fault.UNAVAILABLE
        )


async def test_lost_exit_code_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    failing = ExecutionRequest(job_id=new_job_id(), command=("sh", "-c", "exit 3"))
    with pytest.raises(AssertionError):
        await KIT.test_lifecycle_failing_task_is_error_with_exit_code(
            build(LosesExitCode, client, tmp_path), service, failing, 3, CTX, 5.0, WakeSignal(), []
        )


class DuplicatesOnResubmit(TaskAdapter):
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        fresh = dataclasses.replace(request, job_id=new_job_id())
        return await super().submit(fresh, offer, ctx)


async def test_non_idempotent_submit_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError):
        await KIT.test_submit_is_idempotent_per_job_id(
            build(DuplicatesOnResubmit, client, tmp_path), service, long(), CTX, []
        )


class CleanupNeedsState(TaskAdapter):
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        handle = await super().submit(request, offer, ctx)
        return dataclasses.replace(handle, state={"path": f"/tasks/{handle.native_id}"})

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        if "path" in handle.state:  # silently does nothing for a bare orphan handle
            await self._call("DELETE", str(handle.state["path"]))


async def test_orphan_cleanup_needing_state_is_caught(
    service: TaskService, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError):
        await KIT.test_cleanup_of_orphan_from_list_native(
            build(CleanupNeedsState, client, tmp_path), service, long(), CTX, []
        )
