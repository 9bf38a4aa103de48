"""Azimuth states -> UWS phases, for machines, Kubernetes apps and CaaS clusters.

``STATE_MAP`` is the declared table (data; the README table is generated from it). The
native state is prefixed by the kind (``machine:``, ``app:``, ``cluster:``) since the
three vocabularies overlap. A machine's state alone cannot say how a batch job ended, so
:func:`machine_status` refines it with the exit marker the guest's callback left:

* a marker -> COMPLETED (exit 0) or ERROR (the exit code; reason DEADLINE when the guest's
  watchdog stopped the task at the request's deadline), whatever the machine does now;
* BUILD -> QUEUED; ACTIVE -> EXECUTING; SHUTOFF without a marker -> ERROR (powered off
  without reporting); ERROR -> ERROR (boot failure, Nova's fault message);
* gone or being deleted -> ABORTED if cancel was requested, else left out of the answer
  (the core counts a task the platform no longer knows as lost after a few polls).

Apps: Pending/Preparing/Installing/Upgrading -> QUEUED, Deployed -> EXECUTING (with the
service URL as endpoint), Failed -> ERROR, Uninstalling/gone -> ABORTED (cancelled) or
left out. Clusters: CONFIGURING -> QUEUED, READY -> EXECUTING, ERROR -> ERROR,
DELETING/gone -> ABORTED (cancelled), COMPLETED when the portal's schedule ended it, else
left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from ivoa_broker.protocol import EndReason, Phase, Progress, Status

from ._models import AppInfo, ClusterInfo, MachineInfo, ServiceInfo

__all__ = ["GONE", "STATE_MAP", "ExitMarker", "app_status", "cluster_status", "machine_status"]

GONE = "GONE"

STATE_MAP = MappingProxyType(
    {
        "machine:BUILD": Phase.QUEUED,
        "machine:ACTIVE": Phase.EXECUTING,
        # refined by the exit marker: COMPLETED / ERROR (see machine_status)
        "machine:SHUTOFF": Phase.ERROR,
        "machine:ERROR": Phase.ERROR,
        "machine:REBOOT": Phase.EXECUTING,
        "machine:HARD_REBOOT": Phase.EXECUTING,
        "machine:PAUSED": Phase.SUSPENDED,
        "machine:SUSPENDED": Phase.SUSPENDED,
        "machine:SHELVED_OFFLOADED": Phase.SUSPENDED,
        # refined: ABORTED if cancel was requested
        "machine:DELETED": Phase.ERROR,
        f"machine:{GONE}": Phase.ERROR,
        "app:Unknown": Phase.UNKNOWN,
        "app:Pending": Phase.QUEUED,
        "app:Preparing": Phase.QUEUED,
        "app:Installing": Phase.QUEUED,
        "app:Upgrading": Phase.EXECUTING,
        "app:Deployed": Phase.EXECUTING,
        "app:Failed": Phase.ERROR,
        "app:Uninstalling": Phase.ABORTED,
        f"app:{GONE}": Phase.ERROR,
        "cluster:CONFIGURING": Phase.QUEUED,
        "cluster:READY": Phase.EXECUTING,
        "cluster:ERROR": Phase.ERROR,
        "cluster:DELETING": Phase.ABORTED,
        f"cluster:{GONE}": Phase.ERROR,
    }
)


@dataclass(frozen=True)
class ExitMarker:
    """What the guest reported through the callback."""

    exit_code: int
    received_at: datetime
    #: the guest's watchdog stopped the task at the request's deadline
    timed_out: bool = False


def machine_status(
    machine: MachineInfo | None, marker: ExitMarker | None, *, cancel_requested: bool
) -> Status | None:
    native = f"machine:{machine.status if machine else GONE}"
    started = machine.created if machine else None
    if marker is not None and marker.timed_out:
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            exit_code=marker.exit_code,
            reason=EndReason.DEADLINE,
            message="the job was stopped at its deadline",
            started_at=started,
            ended_at=marker.received_at,
        )
    if marker is not None:
        ok = marker.exit_code == 0
        return Status(
            phase=Phase.COMPLETED if ok else Phase.ERROR,
            native_state=native,
            exit_code=marker.exit_code,
            reason=None if ok else EndReason.EXIT_NONZERO,
            message=None if ok else f"the job exited with code {marker.exit_code}",
            started_at=started,
            ended_at=marker.received_at,
        )
    if machine is None or machine.deleting:
        if cancel_requested:
            return Status(phase=Phase.ABORTED, native_state=native, message="machine deleted")
        return None  # unknown to the portal: the core counts it lost after a few polls
    if machine.status == "BUILD":
        return Status(
            phase=Phase.QUEUED,
            native_state=native,
            progress=Progress(f"booting: {machine.task or 'build'}"),
        )
    if machine.status == "ERROR":
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            reason=EndReason.BOOT_FAILURE,
            message=machine.details or "the machine is in ERROR",
        )
    if machine.status == "SHUTOFF":
        if cancel_requested:
            return Status(phase=Phase.ABORTED, native_state=native, message="machine stopped")
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            reason=EndReason.LOST,
            message="the machine powered off and the job reported no exit code",
            started_at=started,
        )
    phase = STATE_MAP.get(native, Phase.UNKNOWN)
    return Status(phase=phase, native_state=native, started_at=started, message=machine.task)


def _endpoint(services: tuple[ServiceInfo, ...], wanted: str | None) -> str | None:
    for service in services:
        if wanted in (None, service.name) and service.url:
            return service.url
    return None


def app_status(
    app: AppInfo | None, *, cancel_requested: bool, service: str | None = None
) -> Status | None:
    native = f"app:{app.status if app else GONE}"
    if app is None or app.status == "Uninstalling":
        if cancel_requested:
            return Status(phase=Phase.ABORTED, native_state=native, message="app uninstalled")
        return None
    if app.status == "Failed":
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            reason=EndReason.CANCELLED_BY_PLATFORM,
            message=app.failure_message or "the app failed to deploy",
        )
    phase = STATE_MAP.get(native, Phase.UNKNOWN)
    endpoint = _endpoint(app.services, service)
    if phase is Phase.EXECUTING and endpoint is None:
        return Status(
            phase=Phase.QUEUED, native_state=native, progress=Progress("waiting for the service")
        )
    if phase is Phase.QUEUED:
        return Status(
            phase=phase, native_state=native, progress=Progress(f"app {app.status.lower()}")
        )
    return Status(phase=phase, native_state=native, endpoint=endpoint, started_at=app.created_at)


def cluster_status(
    cluster: ClusterInfo | None,
    *,
    cancel_requested: bool,
    now: datetime,
    end_time: datetime | None,
    service: str | None = None,
) -> Status | None:
    native = f"cluster:{cluster.status if cluster else GONE}"
    if cluster is None or cluster.status == "DELETING":
        if cancel_requested:
            return Status(phase=Phase.ABORTED, native_state=native, message="cluster deleted")
        if end_time is not None and now >= end_time:
            return Status(
                phase=Phase.COMPLETED,
                native_state=native,
                reason=EndReason.DEADLINE,
                message="the portal's schedule ended the cluster at its end time",
                ended_at=end_time,
            )
        return None
    if cluster.status == "ERROR":
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            reason=EndReason.BOOT_FAILURE,
            message=cluster.error_message or "the cluster is in ERROR",
        )
    endpoint = _endpoint(cluster.services, service)
    if cluster.status == "READY" and endpoint is not None:
        return Status(
            phase=Phase.EXECUTING,
            native_state=native,
            endpoint=endpoint,
            started_at=cluster.created,
        )
    return Status(
        phase=Phase.QUEUED,
        native_state=native,
        progress=Progress(cluster.task or "waiting for the service"),
    )
