"""Native states of a local job, their UWS phases, and the words for each ending.

The table is total over what the adapter can produce:

============== ========== =====================================================
native state   phase      when
============== ========== =====================================================
running        EXECUTING  the supervisor is alive (same pid *and* start time)
exited-0       COMPLETED  the command exited with status 0
exited-nonzero ERROR      the command exited with status > 0
signalled      ERROR      the command was killed by a signal the broker did not send
cancelled      ABORTED    the job ended (any non-zero way) after the broker cancelled it
start-failed   ERROR      the command could not be executed at all
vanished       ERROR      the supervisor is gone without a (readable) ``exit.json``
============== ========== =====================================================

A job that exits 0 after a cancel is COMPLETED (it won the race). A vanished
job that was being cancelled is ``cancelled`` (the supervisor was killed on
purpose).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ivoa_broker.protocol import Phase

from ._jobdir import ExitRecord

__all__ = [
    "CANCELLED",
    "EXITED_0",
    "EXITED_NONZERO",
    "RUNNING",
    "SIGNALLED",
    "START_FAILED",
    "STATE_MAP",
    "VANISHED",
    "Ending",
    "Limits",
    "describe_exit",
    "describe_vanished",
    "human_bytes",
]

RUNNING = "running"
EXITED_0 = "exited-0"
EXITED_NONZERO = "exited-nonzero"
SIGNALLED = "signalled"
CANCELLED = "cancelled"
START_FAILED = "start-failed"
VANISHED = "vanished"

STATE_MAP: Mapping[str, Phase] = MappingProxyType(
    {
        RUNNING: Phase.EXECUTING,
        EXITED_0: Phase.COMPLETED,
        EXITED_NONZERO: Phase.ERROR,
        SIGNALLED: Phase.ERROR,
        CANCELLED: Phase.ABORTED,
        START_FAILED: Phase.ERROR,
        VANISHED: Phase.ERROR,
    }
)

_MEMORY_WORDS = re.compile(
    r"MemoryError|Cannot allocate memory|out of memory|bad_alloc|memory exhausted"
    r"|failed to allocate|ENOMEM|mmap failed",
    re.IGNORECASE,
)
#: signals a process typically dies of when an allocation fails under RLIMIT_AS
_ALLOCATION_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS})


@dataclass(frozen=True)
class Limits:
    """The resource limits a job ran under (``None``: not limited)."""

    memory_bytes: int | None = None
    cpu_seconds: int | None = None


@dataclass(frozen=True)
class Ending:
    """A terminal native state with the user-facing words for it."""

    native_state: str
    message: str | None
    exit_code: int | None


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _with_stderr(message: str, stderr_tail: str) -> str:
    tail = stderr_tail.strip()
    return f"{message}\nstderr (end):\n{tail}" if tail else message


def _memory_note(limits: Limits) -> str:
    assert limits.memory_bytes is not None
    return (
        f"memory limit exceeded: the job may use at most {human_bytes(limits.memory_bytes)} "
        "of virtual memory (RLIMIT_AS)"
    )


def describe_exit(
    record: ExitRecord, *, cancel_requested: bool, limits: Limits, stderr_tail: str
) -> Ending:
    """How a job that wrote ``exit.json`` ended, in words a user can act on."""
    if record.unreadable:
        return Ending(VANISHED, record.error, None)
    if record.error is not None and record.signal is None:
        return Ending(START_FAILED, record.error, record.returncode)
    if record.signal is not None:
        signum = record.signal
        code = 128 + signum
        name = _signal_name(signum)
        if record.never_started:
            return Ending(CANCELLED, "cancelled before the command started", None)
        if cancel_requested:
            how = "SIGKILL after the grace period" if signum == signal.SIGKILL else name
            return Ending(CANCELLED, f"cancelled: the command was stopped with {how}", code)
        cpu_hit = limits.cpu_seconds is not None and (
            signum == signal.SIGXCPU
            or (
                signum == signal.SIGKILL
                and record.cpu_seconds is not None
                and record.cpu_seconds >= limits.cpu_seconds
            )
        )
        if cpu_hit:
            assert limits.cpu_seconds is not None
            text = (
                f"CPU-time limit exceeded: the command was killed by {name} after using "
                f"{limits.cpu_seconds} s of CPU time (RLIMIT_CPU = walltime x cores)"
            )
        elif limits.memory_bytes is not None and (
            _MEMORY_WORDS.search(stderr_tail) or signum in _ALLOCATION_SIGNALS
        ):
            text = f"the command was killed by {name}; probably {_memory_note(limits)}"
        elif signum in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP):
            text = (
                f"the command was killed by {name}, sent from outside the broker "
                "(an operator, a shutdown or the kernel's out-of-memory killer)"
            )
        else:
            text = f"the command was killed by {name}"
        return Ending(SIGNALLED, _with_stderr(text, stderr_tail), code)
    code = record.returncode if record.returncode is not None else 0
    if code == 0:
        return Ending(EXITED_0, None, 0)
    if cancel_requested and record.term_requested:
        return Ending(CANCELLED, f"cancelled: the command exited with code {code}", code)
    text = f"the command exited with code {code}"
    if limits.memory_bytes is not None and _MEMORY_WORDS.search(stderr_tail):
        text += f"; {_memory_note(limits)}"
    return Ending(EXITED_NONZERO, _with_stderr(text, stderr_tail), code)


def describe_vanished(*, cancel_requested: bool, pid: int) -> Ending:
    """The supervisor is gone without a word: killed from outside, or a reboot."""
    if cancel_requested:
        return Ending(CANCELLED, "cancelled: the job's processes were killed", None)
    return Ending(
        VANISHED,
        f"the job's supervisor process (pid {pid}) is gone without recording how the job "
        "ended: it was killed outside the broker's control or the machine restarted",
        None,
    )
