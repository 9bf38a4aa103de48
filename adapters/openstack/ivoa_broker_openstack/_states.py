"""Nova server status -> UWS phase (the Nova API reference's server status list).

``STATE_MAP`` is the declared table (data; the README table is generated from it). Nova's
status alone cannot say how a batch job ended, so :func:`job_status` refines it with the
exit marker that the guest's callback left and with ``cancel_requested``:

* SHUTOFF + exit marker -> COMPLETED (exit 0) or ERROR (exit code); SHUTOFF without a
  marker -> SUSPENDED (powered off without reporting), or ABORTED if cancel was requested.
* ACTIVE + exit marker -> still EXECUTING until the guest powers off, but no longer than
  the power-off grace period.
* ERROR -> ERROR with Nova's fault message.
* gone (not listed) or DELETED/SOFT_DELETED -> the marker's ending if the job reported,
  else ABORTED if cancel was requested, else ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from ivoa_broker.protocol import Phase, Progress, Status

from ._client import ServerInfo

__all__ = ["BUILD_STEPS", "GONE", "STATE_MAP", "ExitMarker", "build_progress", "job_status"]

#: native state reported for a server that Nova no longer lists
GONE = "GONE"

STATE_MAP = MappingProxyType(
    {
        "BUILD": Phase.QUEUED,
        "ACTIVE": Phase.EXECUTING,
        "REBOOT": Phase.EXECUTING,
        "HARD_REBOOT": Phase.EXECUTING,
        "REBUILD": Phase.EXECUTING,
        "RESIZE": Phase.EXECUTING,
        "VERIFY_RESIZE": Phase.EXECUTING,
        "REVERT_RESIZE": Phase.EXECUTING,
        "MIGRATING": Phase.EXECUTING,
        "PASSWORD": Phase.EXECUTING,
        "RESCUE": Phase.EXECUTING,
        "PAUSED": Phase.SUSPENDED,
        "SUSPENDED": Phase.SUSPENDED,
        "SHELVED": Phase.SUSPENDED,
        "SHELVED_OFFLOADED": Phase.SUSPENDED,
        # refined by the exit marker: COMPLETED / ERROR (see job_status)
        "SHUTOFF": Phase.SUSPENDED,
        "ERROR": Phase.ERROR,
        # refined: ABORTED if cancel was requested (see job_status)
        "DELETED": Phase.ERROR,
        "SOFT_DELETED": Phase.ERROR,
        GONE: Phase.ERROR,
        "UNKNOWN": Phase.UNKNOWN,
    }
)


@dataclass(frozen=True)
class ExitMarker:
    """What the guest reported through the callback."""

    exit_code: int
    received_at: datetime


def _ended(marker: ExitMarker, native: str, server: ServerInfo | None) -> Status:
    ok = marker.exit_code == 0
    return Status(
        phase=Phase.COMPLETED if ok else Phase.ERROR,
        native_state=native,
        exit_code=marker.exit_code,
        message=None if ok else f"the job exited with code {marker.exit_code}",
        started_at=server.launched_at if server else None,
        ended_at=marker.received_at,
    )


def job_status(
    server: ServerInfo | None,
    marker: ExitMarker | None,
    *,
    cancel_requested: bool,
    now: datetime,
    poweroff_grace: timedelta,
) -> Status:
    """The UWS status of one job from its server (None = gone) and its exit marker."""
    native = server.status if server is not None else GONE
    if server is None or native in ("DELETED", "SOFT_DELETED"):
        if marker is not None:
            return _ended(marker, native, server)
        if cancel_requested:
            return Status(
                phase=Phase.ABORTED, native_state=native, message="cancelled: server deleted"
            )
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            message="the server vanished before the job reported an exit code",
        )
    started = server.launched_at
    if native == "SHUTOFF":
        if marker is not None:
            return _ended(marker, native, server)
        if cancel_requested:
            return Status(
                phase=Phase.ABORTED, native_state=native, message="cancelled: server stopped"
            )
        return Status(
            phase=Phase.SUSPENDED,
            native_state=native,
            message="the server is powered off and the job reported no exit code",
            started_at=started,
        )
    if native == "ERROR":
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            message=server.fault_message or "the server is in ERROR",
            started_at=started,
        )
    phase = STATE_MAP.get(native, Phase.UNKNOWN)
    if marker is not None and phase in (Phase.EXECUTING, Phase.SUSPENDED):
        if now - marker.received_at >= poweroff_grace:
            return _ended(marker, native, server)
        return Status(
            phase=Phase.EXECUTING,
            native_state=native,
            message=f"the job reported exit code {marker.exit_code}; waiting for power-off",
            started_at=started,
        )
    message = None
    if server.task_state:
        message = f"task state: {server.task_state}"
    progress = build_progress(server) if native == "BUILD" else None
    return Status(
        phase=phase, native_state=native, message=message, started_at=started, progress=progress
    )


#: Nova's task states while a server builds, in order (compute API, server task states)
BUILD_STEPS = ("scheduling", "block_device_mapping", "networking", "spawning")


def build_progress(server: ServerInfo) -> Progress:
    """Where a BUILD server is: Nova's task state, and how far along the build steps."""
    task = server.task_state or "scheduling"
    if task in BUILD_STEPS:
        fraction: float | None = BUILD_STEPS.index(task) / len(BUILD_STEPS)
    else:
        fraction = None
    return Progress(f"server build: {task.replace('_', ' ')}", fraction)
