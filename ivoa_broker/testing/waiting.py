"""Waiting for phases without timed assertions: poll ``status_many`` until a deadline.

``WakeSignal`` is a ``deps.wake`` callable that records which native ids an
adapter woke and lets a waiter sleep until the next wake (or a short poll
interval), so event-driven adapters are observed promptly and polled ones are
still polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from ivoa_broker.config import JobsSection
from ivoa_broker.protocol import CallContext, Handle, Phase, Status, TransientError

__all__ = [
    "TERMINAL",
    "PhaseTimeout",
    "StatusSource",
    "WakeSignal",
    "assert_monotonic",
    "phase_rank",
    "wait_for_phase",
]

TERMINAL = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED})

_RANK = {
    Phase.PENDING: 0,
    Phase.QUEUED: 1,
    Phase.HELD: 1,
    Phase.EXECUTING: 2,
    Phase.SUSPENDED: 2,
    Phase.COMPLETED: 3,
    Phase.ERROR: 3,
    Phase.ABORTED: 3,
    Phase.ARCHIVED: 4,
}


def phase_rank(phase: Phase) -> int | None:
    """Order of phases (UWS); ``None`` for UNKNOWN, which is not a rung."""
    return _RANK.get(phase)


def assert_monotonic(history: Iterable[Status]) -> None:
    """Phases only move forward; a terminal phase never changes (UNKNOWN ignored)."""
    last: Status | None = None
    for status in history:
        rank = phase_rank(status.phase)
        if rank is None:
            continue
        if last is not None:
            last_rank = phase_rank(last.phase)
            assert last_rank is not None
            if last.phase in TERMINAL and status.phase != last.phase:
                raise AssertionError(f"terminal phase {last.phase} changed to {status.phase}")
            if rank < last_rank:
                raise AssertionError(f"phase went back from {last.phase} to {status.phase}")
        last = status


class WakeSignal:
    """A ``deps.wake`` implementation for tests: ``AdapterDeps(..., wake=signal)``."""

    def __init__(self) -> None:
        self.woken: list[str] = []
        self._event = asyncio.Event()

    def __call__(self, native_id: str) -> None:
        self.woken.append(native_id)
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Sleep until the next wake or ``timeout`` seconds; ``True`` if woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        woken = self._event.is_set()
        self._event.clear()
        return woken


class StatusSource(Protocol):
    """The part of an adapter that waiting needs."""

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]: ...


#: transient errors in a row that :func:`wait_for_phase` retries before it raises one:
#: as many as the broker's poller tolerates by default (``jobs.unknown_threshold``)
TRANSIENT_RETRIES: int = JobsSection.model_fields["unknown_threshold"].default


class PhaseTimeout(AssertionError):
    """The wanted phase was not reached within the deadline."""


async def wait_for_phase(
    adapter: StatusSource,
    handle: Handle,
    phases: Iterable[Phase],
    *,
    ctx: CallContext,
    max_wait: float,
    wake: WakeSignal | None = None,
    interval: float = 0.1,
) -> list[Status]:
    """Poll ``status_many([handle])`` until its phase is one of ``phases``.

    Returns every status observed (the last one is in ``phases``). Raises
    :class:`PhaseTimeout` after ``max_wait`` seconds, or as soon as the task
    reaches a terminal phase that is not wanted. Between polls it sleeps
    ``interval`` seconds, or less when the adapter fires ``wake``.

    A :class:`TransientError` is retried at the next poll, as the broker's
    poller does, up to :data:`TRANSIENT_RETRIES` in a row (its default
    ``jobs.unknown_threshold``), and the next one is raised: a container engine
    that cannot inspect a container in the instant its process exits says so
    with a 500.
    """
    wanted = frozenset(phases)
    history: list[Status] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    transient = 0
    while True:
        try:
            found = await adapter.status_many([handle], ctx)
        except TransientError:
            transient += 1
            if transient > TRANSIENT_RETRIES or loop.time() >= deadline:
                raise
            found = {}
        else:
            transient = 0
        status = found.get(handle.native_id)
        if status is not None:
            history.append(status)
            if status.phase in wanted:
                return history
            if status.phase in TERMINAL:
                raise PhaseTimeout(
                    f"{handle.native_id} ended {status.phase} ({status.native_state!r}, "
                    f"exit {status.exit_code}, {status.message!r}), wanted {sorted(wanted)}"
                )
        remaining = deadline - loop.time()
        if remaining <= 0:
            seen = [s.phase.value for s in history] or "nothing (handle omitted)"
            raise PhaseTimeout(
                f"{handle.native_id} did not reach {sorted(wanted)} within {max_wait} s; "
                f"seen: {seen}"
            )
        if wake is not None:
            await wake.wait(min(interval, remaining))
        else:
            await asyncio.sleep(min(interval, remaining))
