"""``AdapterConformance``: the tests every platform adapter must pass.

A plug-in author subclasses it in ``tests/test_conformance.py`` and provides
two fixtures, ``adapter`` (an entered adapter instance) and ``platform`` (a
:class:`~ivoa_broker.testing.PlatformController` for the platform or its fake)::

    class TestSSHConformance(AdapterConformance):
        @pytest.fixture
        def platform(self, sshd: SSHServer) -> SSHPlatform:
            return SSHPlatform(sshd)

        @pytest.fixture
        async def adapter(self, platform, tmp_path, wake) -> AsyncIterator[SSHAdapter]:
            deps = AdapterDeps(data_dir=tmp_path, wake=wake)
            async with SSHAdapter("ssh-test", platform.config, deps) as a:
                yield a

Overridable fixtures (defaults in brackets):

* ``request_ok`` [``sh -c 'echo hello; echo oops >&2'``]: finishes with exit 0
  and prints ``expected_output`` ["hello"] (``None`` to skip that check);
* ``request_failing`` [``sh -c 'exit 3'``]: fails with ``failing_exit_code`` [3];
* ``request_long`` [``sleep 600``]: runs until cancelled;
* ``request_impossible`` [absurd resources]: gets no offer;
* ``request_invalid`` [an empty command]: ``submit`` refuses with ``InvalidRequest``;
* ``native_states_sample`` [none]: native states the platform is known to report;
* ``config_minimal`` [``{}``]: the smallest valid ``config:`` block;
* ``known_secret`` [none]: a secret string configured into ``adapter``;
  it must never appear in reprs or Handles;
* ``entry_point_name`` [looked up]: the name the class is registered under in
  ``ivoa_broker.adapters``, ``None`` when deliberately not installed;
* ``fresh_adapter`` [same class, config and deps]: a second entered instance
  (restart survival);
* ``max_wait`` [30.0]: seconds any wait for a phase may take;
* ``concurrent_submits`` [20]; ``ctx`` [owner "conformance"];
* ``wake``: a :class:`~ivoa_broker.testing.WakeSignal` to pass as ``deps.wake``.

The kit marks its async tests and fixtures explicitly (``pytest.mark.asyncio``,
``pytest_asyncio.fixture``), so it works in pytest-asyncio's strict mode as well
as with ``asyncio_mode = "auto"``; a subclass's own async fixtures must be
``pytest_asyncio.fixture`` in strict mode. Install it with ``ivoa-broker[kit]``.

Tests are grouped by name prefix (``test_metadata_``, ``test_state_map_``,
``test_offers_``, ``test_submit_``, ``test_lifecycle_``, ``test_restart_``,
``test_cancel_``, ``test_cleanup_``, ``test_errors_``, ``test_logs_``,
``test_results_``, ``test_concurrency_``, ``test_health_``), so ``-k`` selects
a group. What an adapter does not claim in ``capabilities``, and what a
controller cannot do according to its ``controls``, is skipped with a reason.
Every handle a test creates is cancelled and cleaned up at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, ClassVar

import pydantic
import pytest
import pytest_asyncio

from ivoa_broker.guard import Guard
from ivoa_broker.protocol import (
    SUPPORTED_API_VERSIONS,
    Adapter,
    AdapterConfig,
    AdapterError,
    AuthError,
    BaseAdapter,
    CallContext,
    Conflict,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    Resources,
    Status,
    TransientError,
    Unsupported,
)
from ivoa_broker.testing.controller import Fault, PlatformController
from ivoa_broker.testing.waiting import (
    TERMINAL,
    WakeSignal,
    assert_monotonic,
    phase_rank,
    wait_for_phase,
)

__all__ = ["ENTRY_POINT_GROUP", "AdapterConformance", "expected_error", "new_job_id"]

ENTRY_POINT_GROUP = "ivoa_broker.adapters"
UNKNOWN_NATIVE_STATE = "surely-not-a-native-state-\u2603"

_FAULT_ERRORS: dict[Fault, type[AdapterError]] = {
    Fault.AUTH: AuthError,
    Fault.UNAVAILABLE: TransientError,
    Fault.TIMEOUT: TransientError,
    Fault.CONNECTION: TransientError,
    Fault.GARBAGE: FatalError,
}
_HANDLE_OPS = ("status", "cancel", "cleanup", "logs")
_SUBMIT_FAULTS = [f for f in Fault if f != Fault.NOT_FOUND]
#: adapter methods the core calls, with how the kit calls them (guard tests)
_GUARDED = ("health", "offers", "submit", "status_many", "cancel", "cleanup", "list_native")
_ERROR_CASES = [
    (op, fault)
    for op in ("offers", "submit", "status", "cancel", "cleanup", "logs", "list_native")
    for fault in Fault
    if fault != Fault.NOT_FOUND or op in ("status", "cancel", "cleanup")
]


async def _inject(platform: PlatformController, op: str, fault: Fault) -> None:
    pending = platform.fail_next(op, fault)
    if pending is not None:
        await pending


def new_job_id(prefix: str = "conf") -> str:
    """A fresh broker job id, safe for names on any platform."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def expected_error(fault: Fault) -> type[AdapterError]:
    """The protocol error an adapter must raise for ``fault`` (not NOT_FOUND)."""
    return _FAULT_ERRORS[fault]


class AdapterConformance:
    """Base class of an adapter's conformance tests (see the module docs)."""

    #: how often the race tests repeat their race (a one-in-three flake shows)
    RACE_ROUNDS: ClassVar[int] = 5

    # ---------------------------------------------------------------- fixtures

    @pytest.fixture
    def adapter(self) -> Adapter:
        raise NotImplementedError("subclass AdapterConformance and override the adapter fixture")

    @pytest.fixture
    def platform(self) -> PlatformController:
        raise NotImplementedError("subclass AdapterConformance and override the platform fixture")

    @pytest.fixture
    def wake(self) -> WakeSignal:
        return WakeSignal()

    @pytest.fixture
    def ctx(self) -> CallContext:
        return CallContext(owner="conformance", request_id="conformance")

    @pytest.fixture
    def max_wait(self) -> float:
        return 30.0

    @pytest.fixture
    def concurrent_submits(self) -> int:
        return 20

    @pytest.fixture
    def request_ok(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(),
            owner="conformance",
            command=("sh", "-c", "echo hello; echo oops >&2"),
        )

    @pytest.fixture
    def expected_output(self) -> str | None:
        return "hello"

    @pytest.fixture
    def request_failing(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(), owner="conformance", command=("sh", "-c", "exit 3")
        )

    @pytest.fixture
    def failing_exit_code(self) -> int | None:
        return 3

    @pytest.fixture
    def request_long(self) -> ExecutionRequest:
        return ExecutionRequest(job_id=new_job_id(), owner="conformance", command=("sleep", "600"))

    @pytest.fixture
    def request_impossible(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(),
            owner="conformance",
            command=("true",),
            resources=Resources(
                cores=1e6, memory_bytes=2**62, gpus=100_000, walltime_seconds=10**10
            ),
        )

    @pytest.fixture
    def request_invalid(self) -> ExecutionRequest:
        return ExecutionRequest(job_id=new_job_id(), owner="conformance", command=())

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return ()

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {}

    @pytest.fixture
    def known_secret(self) -> str | None:
        return None

    @pytest.fixture
    def entry_point_name(self, adapter: Adapter) -> str | None:
        cls = type(adapter)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            with contextlib.suppress(Exception):
                if ep.load() is cls:
                    return ep.name
        pytest.fail(
            f"{cls.__qualname__} is not registered in entry point group "
            f"{ENTRY_POINT_GROUP!r} (is its distribution installed?)"
        )

    @pytest_asyncio.fixture
    async def fresh_adapter(self, adapter: Adapter) -> AsyncIterator[Adapter]:
        if not isinstance(adapter, BaseAdapter):
            pytest.skip("adapter is not a BaseAdapter: override the fresh_adapter fixture")
        async with type(adapter)(adapter.name, adapter.config, adapter.deps) as fresh:
            yield fresh

    @pytest_asyncio.fixture
    async def track(self, adapter: Adapter, ctx: CallContext) -> AsyncIterator[list[Handle]]:
        """Handles created by a test; cancelled and cleaned up at teardown."""
        handles: list[Handle] = []
        yield handles

        async def remove(handle: Handle) -> None:
            stop = dataclasses.replace(handle, cancel_requested=True)
            with contextlib.suppress(AdapterError):
                await adapter.cancel(stop, ctx)
            with contextlib.suppress(AdapterError):
                await adapter.cleanup(stop, ctx)

        await asyncio.gather(*(remove(h) for h in {h.native_id: h for h in handles}.values()))

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _need_native_ids(platform: PlatformController) -> None:
        if not platform.controls.native_ids:
            pytest.skip("the platform controller cannot list native objects")

    @staticmethod
    def _need_fault(platform: PlatformController, op: str, fault: Fault) -> None:
        if not platform.controls.can_inject(op, fault):
            pytest.skip(f"the platform controller cannot inject {fault.value} into {op}")

    @staticmethod
    def _need(flag: bool, what: str) -> None:
        if not flag:
            pytest.skip(f"adapter does not claim capability {what!r}")

    @staticmethod
    async def _submit(
        adapter: Adapter, request: ExecutionRequest, ctx: CallContext, track: list[Handle]
    ) -> Handle:
        offers = await adapter.offers(request, ctx)
        assert offers, f"no offer for {request.command!r}"
        handle = await adapter.submit(request, offers[0], ctx)
        track.append(handle)
        return handle

    @staticmethod
    async def _wait(
        adapter: Adapter,
        handle: Handle,
        phases: Iterable[Phase],
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
    ) -> list[Status]:
        return await wait_for_phase(adapter, handle, phases, ctx=ctx, max_wait=max_wait, wake=wake)

    async def _run_to_end(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request: ExecutionRequest,
        exit_code: int,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> tuple[Handle, list[Status]]:
        """Submit ``request`` and wait until it ends (driving the fake if needed)."""
        handle = await self._submit(adapter, request, ctx, track)
        history: list[Status] = []
        if platform.controls.finish:
            history += await self._wait(
                adapter, handle, {Phase.QUEUED, Phase.EXECUTING}, ctx, max_wait, wake
            )
            await platform.finish(handle.native_id, exit_code)
        history += await self._wait(adapter, handle, TERMINAL, ctx, max_wait, wake)
        return handle, history

    # ---------------------------------------------------------------- metadata

    def test_metadata_plugin_is_entry_point_name(
        self, adapter: Adapter, entry_point_name: str | None
    ) -> None:
        if entry_point_name is None:
            pytest.skip("the subclass says this adapter is not installed as an entry point")
        assert type(adapter).plugin == entry_point_name

    def test_metadata_api_version_supported(self, adapter: Adapter) -> None:
        assert type(adapter).api_version in SUPPORTED_API_VERSIONS

    def test_metadata_config_model_accepts_defaults(
        self, adapter: Adapter, config_minimal: Mapping[str, Any]
    ) -> None:
        model = type(adapter).config_model
        assert issubclass(model, AdapterConfig)
        config = model.model_validate(dict(config_minimal))
        # the defaults themselves validate (a default a validator would refuse is a bug)
        again = model.model_validate(config.model_dump())
        assert again == config
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({**config_minimal, "surely_not_an_option": 1})

    def test_metadata_no_secret_in_reprs(self, adapter: Adapter, known_secret: str | None) -> None:
        if known_secret is None:
            pytest.skip("no known_secret supplied by the subclass")
        shown = [repr(adapter), str(adapter)]
        config = getattr(adapter, "config", None)
        if config is not None:
            shown += [repr(config), str(config)]
        for text in shown:
            assert known_secret not in text

    # --------------------------------------------------------------- state map

    def test_state_map_values_are_adapter_phases(self, adapter: Adapter) -> None:
        for native, phase in type(adapter).state_map.items():
            assert isinstance(native, str)
            assert isinstance(phase, Phase), f"{native!r} -> {phase!r} is not a Phase"
            assert phase not in (Phase.PENDING, Phase.ARCHIVED), (
                f"{native!r} -> {phase}: adapters never report broker-only phases"
            )

    def test_state_map_is_total_over_sample(
        self, adapter: Adapter, native_states_sample: Sequence[str]
    ) -> None:
        if not native_states_sample:
            pytest.skip("no native_states_sample supplied by the subclass")
        missing = [s for s in native_states_sample if s not in type(adapter).state_map]
        assert not missing, f"native states not in state_map: {missing}"

    def test_state_map_unknown_string_is_unknown(self, adapter: Adapter) -> None:
        map_state: Callable[[str], Phase] | None = getattr(adapter, "map_state", None)
        if map_state is None:
            pytest.skip("adapter has no map_state (not a BaseAdapter)")
        assert map_state(UNKNOWN_NATIVE_STATE) == Phase.UNKNOWN

    # ------------------------------------------------------------------ offers

    @pytest.mark.asyncio
    async def test_offers_for_request_ok(
        self, adapter: Adapter, request_ok: ExecutionRequest, ctx: CallContext
    ) -> None:
        offers = await adapter.offers(request_ok, ctx)
        assert offers, "request_ok got no offer"
        for offer in offers:
            assert isinstance(offer, Offer)
            assert offer.adapter in (adapter.name, type(adapter).plugin)
            assert offer.offer_id
            assert isinstance(offer.resources, Resources)

    @pytest.mark.asyncio
    async def test_offers_round_trip_json(
        self, adapter: Adapter, request_ok: ExecutionRequest, ctx: CallContext
    ) -> None:
        for offer in await adapter.offers(request_ok, ctx):
            text = json.dumps(offer.to_json())
            assert Offer.from_json(json.loads(text)) == offer

    @pytest.mark.asyncio
    async def test_offers_impossible_is_empty(
        self, adapter: Adapter, request_impossible: ExecutionRequest, ctx: CallContext
    ) -> None:
        assert await adapter.offers(request_impossible, ctx) == []

    @pytest.mark.asyncio
    async def test_offers_have_no_side_effects(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        request_impossible: ExecutionRequest,
        ctx: CallContext,
    ) -> None:
        self._need_native_ids(platform)
        before = await platform.native_ids()
        for _ in range(3):
            await adapter.offers(request_ok, ctx)
            await adapter.offers(request_impossible, ctx)
        assert await platform.native_ids() == before

    # ------------------------------------------------------------------ submit

    @pytest.mark.asyncio
    async def test_submit_handle_round_trips_json(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
        known_secret: str | None,
    ) -> None:
        handle = await self._submit(adapter, request_long, ctx, track)
        assert handle.native_id
        text = handle.to_json()
        assert Handle.from_json(text) == handle
        assert json.loads(text)["native_id"] == handle.native_id
        if known_secret is not None:
            assert known_secret not in text
        if platform.controls.native_ids:
            assert handle.native_id in await platform.native_ids()

    @pytest.mark.asyncio
    async def test_submit_is_idempotent_per_job_id(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        self._need_native_ids(platform)
        before = await platform.native_ids()
        first = await self._submit(adapter, request_long, ctx, track)
        offer = (await adapter.offers(request_long, ctx))[0]
        try:
            again = await adapter.submit(request_long, offer, ctx)
        except Conflict:
            pass  # refusing the duplicate is acceptable too
        else:
            track.append(again)
            assert again.native_id == first.native_id
        assert await platform.native_ids() - before == {first.native_id}

    @pytest.mark.asyncio
    async def test_submit_invalid_fails_before_side_effects(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        request_invalid: ExecutionRequest,
        ctx: CallContext,
    ) -> None:
        self._need_native_ids(platform)
        before = await platform.native_ids()
        with contextlib.suppress(InvalidRequest):  # offers may refuse it too
            await adapter.offers(request_invalid, ctx)
        offer = (await adapter.offers(request_ok, ctx))[0]
        with pytest.raises(InvalidRequest):
            await adapter.submit(request_invalid, offer, ctx)
        assert await platform.native_ids() == before

    @pytest.mark.parametrize("fault", _SUBMIT_FAULTS, ids=[f.value for f in _SUBMIT_FAULTS])
    @pytest.mark.asyncio
    async def test_submit_failure_leaves_nothing_behind(
        self,
        fault: Fault,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        """Every fault the controller can put into submit (not only the first):
        an error is raised and nothing is left behind - except that after a
        TIMEOUT the task may have been queued all the same; then the adapter
        must find it (``list_native``) and a repeated submit returns it."""
        self._need_native_ids(platform)
        self._need_fault(platform, "submit", fault)
        before = await platform.native_ids()
        offer = (await adapter.offers(request_ok, ctx))[0]
        await _inject(platform, "submit", fault)
        with pytest.raises(AdapterError):
            await adapter.submit(request_ok, offer, ctx)
        after = await platform.native_ids()
        if fault is not Fault.TIMEOUT or after == before:
            assert after == before
            return
        left = after - before
        assert adapter.capabilities.adopt, (
            f"a timed-out submit left {sorted(left)} behind and the adapter cannot list "
            "its tasks (capabilities.adopt), so the broker could never find them"
        )
        native = await adapter.list_native(ctx)
        assert {n for n, j in native.items() if j == request_ok.job_id} >= left
        handle = await adapter.submit(request_ok, offer, ctx)  # idempotent: adopts it
        track.append(handle)
        assert handle.native_id in left
        assert await platform.native_ids() == after

    @pytest.mark.asyncio
    async def test_submit_list_native_finds_job(
        self,
        adapter: Adapter,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        handle = await self._submit(adapter, request_long, ctx, track)
        try:
            native = await adapter.list_native(ctx)
        except Unsupported:
            if type(adapter).capabilities.adopt:
                raise
            pytest.skip("adapter does not list its native objects")
        assert native.get(handle.native_id) == request_long.job_id

    # --------------------------------------------------------------- lifecycle

    @pytest.mark.asyncio
    async def test_lifecycle_ok_completes_monotonically(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle, history = await self._run_to_end(
            adapter, platform, request_ok, 0, ctx, max_wait, wake, track
        )
        final = history[-1]
        assert final.phase == Phase.COMPLETED, final
        assert final.exit_code in (0, None)
        assert final.native_state
        # a terminal status stays put
        history += await self._wait(adapter, handle, TERMINAL, ctx, max_wait, wake)
        assert_monotonic(history)

    @pytest.mark.asyncio
    async def test_lifecycle_failing_task_is_error_with_exit_code(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_failing: ExecutionRequest,
        failing_exit_code: int | None,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        code = failing_exit_code if failing_exit_code is not None else 3
        _, history = await self._run_to_end(
            adapter, platform, request_failing, code, ctx, max_wait, wake, track
        )
        final = history[-1]
        assert final.phase == Phase.ERROR, final
        assert final.exit_code is not None
        assert final.exit_code != 0
        if failing_exit_code is not None:
            assert final.exit_code == failing_exit_code
        assert_monotonic(history)

    @pytest.mark.asyncio
    async def test_lifecycle_status_many_batches(
        self,
        adapter: Adapter,
        request_long: ExecutionRequest,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        assert dict(await adapter.status_many([], ctx)) == {}
        first = await self._submit(adapter, request_long, ctx, track)
        second = await self._submit(adapter, request_ok, ctx, track)
        found = await adapter.status_many([first, second], ctx)
        assert set(found) == {first.native_id, second.native_id}
        assert found[first.native_id].phase not in TERMINAL

    # ---------------------------------------------------------------- restart

    @pytest.mark.asyncio
    async def test_restart_fresh_instance_sees_running_task_and_can_cancel_it(
        self,
        adapter: Adapter,
        fresh_adapter: Adapter,
        request_long: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle = await self._submit(adapter, request_long, ctx, track)
        seen = await self._wait(
            adapter, handle, {Phase.QUEUED, Phase.EXECUTING}, ctx, max_wait, wake
        )
        reloaded = Handle.from_json(handle.to_json())
        found = await fresh_adapter.status_many([reloaded], ctx)
        assert reloaded.native_id in found, "a fresh instance lost the task"
        fresh_rank = phase_rank(found[reloaded.native_id].phase)
        assert fresh_rank is not None
        assert fresh_rank >= (phase_rank(seen[-1].phase) or 0)
        assert found[reloaded.native_id].phase not in TERMINAL
        stop = dataclasses.replace(reloaded, cancel_requested=True)
        await fresh_adapter.cancel(stop, ctx)
        history = await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
        assert history[-1].phase == Phase.ABORTED, history[-1]

    @pytest.mark.asyncio
    async def test_restart_fresh_instance_sees_same_end(
        self,
        adapter: Adapter,
        fresh_adapter: Adapter,
        platform: PlatformController,
        request_failing: ExecutionRequest,
        failing_exit_code: int | None,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        code = failing_exit_code if failing_exit_code is not None else 3
        handle, history = await self._run_to_end(
            adapter, platform, request_failing, code, ctx, max_wait, wake, track
        )
        reloaded = Handle.from_json(handle.to_json())
        found = await fresh_adapter.status_many([reloaded], ctx)
        fresh = found[reloaded.native_id]
        assert (fresh.phase, fresh.exit_code) == (history[-1].phase, history[-1].exit_code)

    # ------------------------------------------------------------------ cancel

    @pytest.mark.asyncio
    async def test_cancel_running_task_ends_aborted_and_is_idempotent(
        self,
        adapter: Adapter,
        request_long: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle = await self._submit(adapter, request_long, ctx, track)
        history = await self._wait(adapter, handle, {Phase.EXECUTING}, ctx, max_wait, wake)
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cancel(stop, ctx)
        await adapter.cancel(stop, ctx)
        history += await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
        assert history[-1].phase == Phase.ABORTED, history[-1]
        await adapter.cancel(stop, ctx)
        history += await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
        assert_monotonic(history)

    @pytest.mark.asyncio
    async def test_cancel_after_completion_stays_completed(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle, history = await self._run_to_end(
            adapter, platform, request_ok, 0, ctx, max_wait, wake, track
        )
        assert history[-1].phase == Phase.COMPLETED
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cancel(stop, ctx)
        after = await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
        assert after[-1].phase == Phase.COMPLETED, after[-1]

    @pytest.mark.asyncio
    async def test_cancel_racing_completion_does_not_raise(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        """A cancel racing the task's own end, ``RACE_ROUNDS`` times (a one-in-three flake
        shows with odds 1 - (2/3)**5 = 87 %): neither side raises, the task ends COMPLETED
        or ABORTED, and cancel and cleanup afterwards are success ("already gone")."""
        for round_ in range(1, self.RACE_ROUNDS + 1):
            request = dataclasses.replace(request_ok, job_id=new_job_id("race"))
            handle = await self._submit(adapter, request, ctx, track)
            stop = dataclasses.replace(handle, cancel_requested=True)
            finish = (
                platform.finish(handle.native_id, 0)
                if platform.controls.finish
                else asyncio.sleep(0)
            )
            results = await asyncio.gather(
                adapter.cancel(stop, ctx), finish, return_exceptions=True
            )
            assert results[0] is None, (
                f"round {round_}: cancel racing the end raised {results[0]!r}"
            )
            assert not isinstance(results[1], BaseException), (
                f"round {round_}: the platform's end racing a cancel raised {results[1]!r}"
            )
            history = await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
            assert history[-1].phase in (Phase.COMPLETED, Phase.ABORTED), (round_, history[-1])
            await adapter.cancel(stop, ctx)  # after the end: success, whatever is left
            await adapter.cleanup(stop, ctx)
            await adapter.cleanup(stop, ctx)  # already gone: success

    # ----------------------------------------------------------------- cleanup

    @pytest.mark.asyncio
    async def test_cleanup_is_idempotent_and_removes_native_object(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        self._need_native_ids(platform)
        handle, _ = await self._run_to_end(
            adapter, platform, request_ok, 0, ctx, max_wait, wake, track
        )
        assert handle.native_id in await platform.native_ids()
        await adapter.cleanup(handle, ctx)
        assert handle.native_id not in await platform.native_ids()
        await adapter.cleanup(handle, ctx)  # "already gone" is success

    @pytest.mark.asyncio
    async def test_cleanup_after_cancel_removes_running_task(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        self._need_native_ids(platform)
        handle = await self._submit(adapter, request_long, ctx, track)
        await self._wait(adapter, handle, {Phase.QUEUED, Phase.EXECUTING}, ctx, max_wait, wake)
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cancel(stop, ctx)
        await self._wait(adapter, stop, TERMINAL, ctx, max_wait, wake)
        await adapter.cleanup(stop, ctx)
        assert handle.native_id not in await platform.native_ids()

    @pytest.mark.asyncio
    async def test_cleanup_of_orphan_from_list_native(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        """The core's orphan sweep: ``cleanup(Handle(name, native_id))`` with no state."""
        self._need_native_ids(platform)
        handle = await self._submit(adapter, request_long, ctx, track)
        try:
            native = await adapter.list_native(ctx)
        except Unsupported:
            pytest.skip("adapter does not list its native objects")
        assert native.get(handle.native_id) == request_long.job_id
        await adapter.cleanup(Handle(adapter=adapter.name, native_id=handle.native_id), ctx)
        assert handle.native_id not in await platform.native_ids()
        assert handle.native_id not in await adapter.list_native(ctx)

    # ----------------------------------------------------------- error mapping

    @pytest.mark.parametrize(
        ("op", "fault"), _ERROR_CASES, ids=[f"{op}-{fault.value}" for op, fault in _ERROR_CASES]
    )
    @pytest.mark.asyncio
    async def test_errors_map_to_protocol_hierarchy(
        self,
        op: str,
        fault: Fault,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        self._need_fault(platform, op, fault)
        if op == "logs":
            self._need(type(adapter).capabilities.logs, "logs")
        handle = None
        if op in _HANDLE_OPS:
            handle = await self._submit(adapter, request_long, ctx, track)
        offer = (await adapter.offers(request_long, ctx))[0] if op == "submit" else None
        call = self._operation(adapter, op, request_long, offer, handle, ctx)
        await _inject(platform, op, fault)
        if fault != Fault.NOT_FOUND:
            with pytest.raises(expected_error(fault)):
                await call()
            return
        try:
            outcome = await call()
        except NotFound:
            assert op in ("status", "cancel"), f"{op} must treat 'already gone' as success"
            return
        if op == "status":
            assert handle is not None
            assert handle.native_id not in outcome

    @staticmethod
    def _operation(
        adapter: Adapter,
        op: str,
        request: ExecutionRequest,
        offer: Offer | None,
        handle: Handle | None,
        ctx: CallContext,
    ) -> Callable[[], Awaitable[Any]]:
        def need_handle() -> Handle:
            assert handle is not None
            return handle

        def need_offer() -> Offer:
            assert offer is not None
            return offer

        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "offers": lambda: adapter.offers(request, ctx),
            "submit": lambda: adapter.submit(request, need_offer(), ctx),
            "status": lambda: adapter.status_many([need_handle()], ctx),
            "cancel": lambda: adapter.cancel(need_handle(), ctx),
            "cleanup": lambda: adapter.cleanup(need_handle(), ctx),
            "logs": lambda: adapter.logs(need_handle(), ctx),
            "list_native": lambda: adapter.list_native(ctx),
        }
        return calls[op]

    @pytest.mark.parametrize("op", ["status", "cancel", "cleanup"])
    @pytest.mark.asyncio
    async def test_errors_targeted_not_found_spares_the_others(
        self,
        op: str,
        adapter: Adapter,
        platform: PlatformController,
        request_long: ExecutionRequest,
        ctx: CallContext,
        track: list[Handle],
    ) -> None:
        """NOT_FOUND for one task of two: that one is gone (omitted, or success
        for cancel/cleanup), the other is untouched."""
        if not platform.controls.targeted or not platform.controls.can_inject(op, Fault.NOT_FOUND):
            pytest.skip(f"the platform controller cannot target a NOT_FOUND at one task ({op})")
        gone = await self._submit(adapter, request_long, ctx, track)
        other_request = dataclasses.replace(request_long, job_id=new_job_id())
        other = await self._submit(adapter, other_request, ctx, track)
        pending = platform.fail_next_for(op, Fault.NOT_FOUND, gone.native_id)  # type: ignore[attr-defined]
        if pending is not None:
            await pending
        if op == "status":
            statuses = await adapter.status_many([gone, other], ctx)
            assert gone.native_id not in statuses
            assert other.native_id in statuses
            return
        if op == "cleanup":
            await adapter.cleanup(gone, ctx)  # "already gone" is success
        else:
            with contextlib.suppress(NotFound):  # cancel: success or NotFound
                await adapter.cancel(gone, ctx)
        statuses = await adapter.status_many([other], ctx)
        assert statuses[other.native_id].phase not in TERMINAL

    # -------------------------------------------------------------- the guard

    @pytest.mark.parametrize("method", _GUARDED)
    @pytest.mark.asyncio
    async def test_guard_turns_a_raising_method_into_fatal_error(
        self,
        method: str,
        adapter: Adapter,
        request_long: ExecutionRequest,
        ctx: CallContext,
        monkeypatch: pytest.MonkeyPatch,
        max_wait: float,
    ) -> None:
        """Whatever a method raises, the core's guard records it as FatalError, and
        the instance keeps working afterwards."""

        async def explode(*args: Any) -> Any:
            raise RuntimeError(f"{method} exploded")

        monkeypatch.setattr(adapter, method, explode)
        guard = Guard(timeout=5.0)
        with pytest.raises(FatalError, match=method):
            await guard.call(adapter, method, *self._guard_args(method, request_long, ctx))
        monkeypatch.undo()
        # the real method again: a real platform on a busy machine may take more than the
        # 5 s above to answer, so this call has the kit's own patience
        offers = await guard.call(adapter, "offers", request_long, ctx, timeout=max_wait)
        assert isinstance(offers, list)

    @pytest.mark.parametrize("method", _GUARDED)
    @pytest.mark.asyncio
    async def test_guard_ends_a_hanging_method_with_transient_error(
        self,
        method: str,
        adapter: Adapter,
        request_long: ExecutionRequest,
        ctx: CallContext,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A method that never answers is cancelled at the guard's timeout
        (TransientError), and the instance keeps working afterwards."""
        started = asyncio.Event()

        async def hang(*args: Any) -> Any:
            started.set()
            await asyncio.Event().wait()

        monkeypatch.setattr(adapter, method, hang)
        guard = Guard(timeout=0.2)
        with pytest.raises(TransientError, match="did not answer"):
            await guard.call(adapter, method, *self._guard_args(method, request_long, ctx))
        assert started.is_set()
        monkeypatch.undo()
        assert isinstance(
            await Guard(timeout=30.0).call(adapter, "offers", request_long, ctx), list
        )

    @pytest.mark.asyncio
    async def test_guard_refuses_garbage_from_the_adapter(
        self, adapter: Adapter, request_long: ExecutionRequest, ctx: CallContext
    ) -> None:
        """The adapter's real answers pass the guard's type checks (what the core
        would otherwise record as garbage)."""
        guard = Guard(timeout=30.0)
        offers = await guard.call(adapter, "offers", request_long, ctx)
        assert offers and all(isinstance(o, Offer) for o in offers)
        assert isinstance(await guard.call(adapter, "health"), Health)
        assert isinstance(await guard.call(adapter, "status_many", [], ctx), Mapping)

    @staticmethod
    def _guard_args(method: str, request: ExecutionRequest, ctx: CallContext) -> tuple[Any, ...]:
        offer = Offer("guard", "guard-offer", "guard", Resources())
        handle = Handle("guard", "guard-native-id")
        return {
            "health": (),
            "offers": (request, ctx),
            "submit": (request, offer, ctx),
            "status_many": ([handle], ctx),
            "cancel": (handle, ctx),
            "cleanup": (handle, ctx),
            "list_native": (ctx,),
        }[method]

    # ------------------------------------------------------------ logs/results

    @pytest.mark.asyncio
    async def test_logs_of_completed_task(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        expected_output: str | None,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle, _ = await self._run_to_end(
            adapter, platform, request_ok, 0, ctx, max_wait, wake, track
        )
        if not type(adapter).capabilities.logs:
            with pytest.raises(Unsupported):
                await adapter.logs(handle, ctx)
            return
        text = await adapter.logs(handle, ctx)
        assert isinstance(text, str)
        if expected_output is not None:
            assert expected_output in text

    @pytest.mark.asyncio
    async def test_results_of_completed_task(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        expected_output: str | None,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        handle, _ = await self._run_to_end(
            adapter, platform, request_ok, 0, ctx, max_wait, wake, track
        )
        if not type(adapter).capabilities.results:
            with pytest.raises(Unsupported):
                await adapter.results(handle, ctx)
            return
        refs = await adapter.results(handle, ctx)
        assert refs, "a completed task with output has no results"
        assert len({r.id for r in refs}) == len(refs), "result ids are not unique"
        contents = []
        for ref in refs:
            assert ref.id
            if ref.path is not None:
                assert ref.path.is_file(), ref
                if ref.size is not None:
                    assert ref.size == ref.path.stat().st_size
                contents.append(ref.path.read_text(errors="replace"))
        if expected_output is not None and contents:
            assert any(expected_output in text for text in contents)
        again = await adapter.results(handle, ctx)
        assert sorted(r.id for r in again) == sorted(r.id for r in refs)

    # ------------------------------------------------------------- concurrency

    @pytest.mark.asyncio
    async def test_concurrency_many_submits(
        self,
        adapter: Adapter,
        platform: PlatformController,
        request_ok: ExecutionRequest,
        concurrent_submits: int,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        requests = [
            dataclasses.replace(request_ok, job_id=new_job_id()) for _ in range(concurrent_submits)
        ]
        handles = await asyncio.gather(*(self._submit(adapter, r, ctx, track) for r in requests))
        assert len({h.native_id for h in handles}) == concurrent_submits
        if platform.controls.finish:
            await asyncio.gather(*(platform.finish(h.native_id, 0) for h in handles))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            found = await adapter.status_many(handles, ctx)
            if all(s.phase in TERMINAL for s in found.values()) and len(found) == len(handles):
                break
            assert loop.time() < deadline, f"not all ended within {max_wait} s: " + str(
                sorted(s.phase.value for s in found.values())
            )
            await wake.wait(0.1)
        assert {s.phase for s in found.values()} == {Phase.COMPLETED}
        await asyncio.gather(*(adapter.cleanup(h, ctx) for h in handles))
        track.clear()  # cleaned up already
        if platform.controls.native_ids:
            assert not {h.native_id for h in handles} & await platform.native_ids()

    # ------------------------------------------------------------------ health

    @pytest.mark.asyncio
    async def test_health_reports_ok(self, adapter: Adapter) -> None:
        health = await adapter.health()
        assert health.ok, health.message

    @pytest.mark.parametrize("fault", [f for f in Fault if f != Fault.NOT_FOUND])
    @pytest.mark.asyncio
    async def test_health_reports_trouble_without_raising(
        self, adapter: Adapter, platform: PlatformController, fault: Fault
    ) -> None:
        self._need_fault(platform, "health", fault)
        await _inject(platform, "health", fault)
        health = await adapter.health()
        assert not health.ok
        assert (await adapter.health()).ok
