"""Process identity on Linux, from ``/proc``.

A pid alone does not name a process: pids are recycled. A process is named
here by ``(pid, start_ticks, boot_id)``: its pid, its start time in clock ticks
since boot (field 22 of ``/proc/<pid>/stat``) and the kernel's boot id. Two
different processes never share all three.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcIdentity",
    "ProcStat",
    "boot_id",
    "find_session_leader",
    "identify",
    "is_alive",
    "kill_session",
    "read_stat",
    "session_members",
]

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this package uses."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int


@dataclass(frozen=True)
class ProcIdentity:
    """A process, unambiguously (see the module docstring)."""

    pid: int
    start_ticks: int
    boot_id: str


@functools.cache
def boot_id() -> str:
    """The kernel's boot id: changes at every reboot (so it is read once per process)."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # pragma: no cover - not Linux
        return ""


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat`` parsed, or ``None`` if there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ")"
    rest = raw[raw.rfind(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=rest[0].decode(),
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        start_ticks=int(rest[19]),
    )


def identify(pid: int) -> ProcIdentity | None:
    """The identity of the running process ``pid`` (e.g. just after spawning it)."""
    stat = read_stat(pid)
    if stat is None:
        return None
    return ProcIdentity(pid=pid, start_ticks=stat.start_ticks, boot_id=boot_id())


def is_alive(ident: ProcIdentity) -> bool:
    """True if the very process ``ident`` names still runs (zombies count as ended)."""
    if ident.boot_id and ident.boot_id != boot_id():
        return False
    stat = read_stat(ident.pid)
    return stat is not None and stat.start_ticks == ident.start_ticks and stat.state not in "ZX"


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return marker in environ.split(b"\0")


def session_members(sid: int, *, marker: bytes | None = None) -> list[int]:
    """Live processes of session ``sid``; with ``marker``, only those whose
    initial environment holds that exact ``NAME=value`` entry."""
    found: list[int] = []
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if stat is None or stat.session != sid or stat.state in "ZX":
            continue
        if marker is not None and not _environ_has(stat.pid, marker):
            continue
        found.append(stat.pid)
    return found


def kill_session(sid: int, sig: int = signal.SIGKILL, *, marker: bytes | None = None) -> int:
    """Send ``sig`` to every live member of session ``sid``; how many were signalled."""
    count = 0
    for pid in session_members(sid, marker=marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            count += 1
    return count


def find_session_leader(marker: bytes) -> int | None:
    """A live session leader whose environment holds ``marker``, if any."""
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if (
            stat is not None
            and stat.session == stat.pid
            and stat.state not in "ZX"
            and _environ_has(stat.pid, marker)
        ):
            return stat.pid
    return None
