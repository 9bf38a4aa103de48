"""Phase waiting helpers: monotonic checks, bounded polling, wake events."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from ivoa_broker.protocol import CallContext, Handle, Phase, Status, TransientError
from ivoa_broker.testing import PhaseTimeout, WakeSignal, assert_monotonic, wait_for_phase
from ivoa_broker.testing.waiting import TRANSIENT_RETRIES

CTX = CallContext()


def st(phase: Phase) -> Status:
    return Status(phase=phase, native_state=phase.value.lower())


def test_monotonic_accepts_forward_and_unknown() -> None:
    assert_monotonic(
        [
            st(Phase.QUEUED),
            st(Phase.UNKNOWN),
            st(Phase.EXECUTING),
            st(Phase.SUSPENDED),
            st(Phase.COMPLETED),
            st(Phase.COMPLETED),
        ]
    )


@pytest.mark.parametrize(
    "phases",
    [
        [Phase.EXECUTING, Phase.QUEUED],
        [Phase.COMPLETED, Phase.ABORTED],
        [Phase.ERROR, Phase.UNKNOWN, Phase.EXECUTING],
    ],
)
def test_monotonic_refuses_going_back(phases: list[Phase]) -> None:
    with pytest.raises(AssertionError):
        assert_monotonic([st(p) for p in phases])


class Scripted:
    """A minimal adapter whose status_many replays phases (the last one repeats)."""

    def __init__(self, phases: list[Phase | None]) -> None:
        self.phases = phases
        self.polls = 0

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        phase = self.phases[min(self.polls, len(self.phases) - 1)]
        self.polls += 1
        return {} if phase is None else {handles[0].native_id: st(phase)}


HANDLE = Handle(adapter="x", native_id="n1")


async def test_wait_returns_history_up_to_wanted_phase() -> None:
    adapter = Scripted([None, Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED])
    history = await wait_for_phase(
        adapter,
        HANDLE,
        {Phase.COMPLETED},
        ctx=CTX,
        max_wait=10,
        interval=0.001,
    )
    assert [s.phase for s in history] == [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED]


async def test_wait_stops_at_unwanted_terminal_phase() -> None:
    adapter = Scripted([Phase.EXECUTING, Phase.ERROR])
    with pytest.raises(PhaseTimeout, match="ended ERROR"):
        await wait_for_phase(
            adapter,
            HANDLE,
            {Phase.COMPLETED},
            ctx=CTX,
            max_wait=10,
            interval=0.001,
        )
    assert adapter.polls == 2


async def test_wait_gives_up_at_deadline() -> None:
    adapter = Scripted([Phase.EXECUTING])
    with pytest.raises(PhaseTimeout, match="did not reach"):
        await wait_for_phase(
            adapter,
            HANDLE,
            {Phase.COMPLETED},
            ctx=CTX,
            max_wait=0.05,
            interval=0.01,
        )
    assert adapter.polls >= 2


async def test_wake_cuts_the_sleep_short() -> None:
    wake = WakeSignal()
    adapter = Scripted([Phase.EXECUTING, Phase.COMPLETED])
    loop = asyncio.get_running_loop()
    loop.call_soon(wake, "n1")
    # an interval far longer than max_wait would time out without the wake
    history = await wait_for_phase(
        adapter,
        HANDLE,
        {Phase.COMPLETED},
        ctx=CTX,
        max_wait=3600,
        wake=wake,
        interval=3600,
    )
    assert history[-1].phase == Phase.COMPLETED
    assert wake.woken == ["n1"]


class Flaky(Scripted):
    """Raises TransientError for its first ``failures`` polls, then replays phases."""

    def __init__(self, failures: int, phases: list[Phase | None]) -> None:
        super().__init__(phases)
        self.failures = failures

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if self.failures:
            self.failures -= 1
            raise TransientError("engine answered 500: read /proc/7373/cgroup")
        return await super().status_many(handles, ctx)


async def test_transient_errors_are_retried_like_the_poller_does() -> None:
    adapter = Flaky(TRANSIENT_RETRIES, [Phase.COMPLETED])
    history = await wait_for_phase(
        adapter, HANDLE, {Phase.COMPLETED}, ctx=CTX, max_wait=10, interval=0.001
    )
    assert [s.phase for s in history] == [Phase.COMPLETED]


async def test_one_transient_error_too_many_is_raised() -> None:
    adapter = Flaky(TRANSIENT_RETRIES + 1, [Phase.COMPLETED])
    with pytest.raises(TransientError, match="cgroup"):
        await wait_for_phase(
            adapter, HANDLE, {Phase.COMPLETED}, ctx=CTX, max_wait=10, interval=0.001
        )
