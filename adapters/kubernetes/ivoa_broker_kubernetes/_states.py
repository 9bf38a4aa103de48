"""What a task's Pod (and Job) say -> :class:`Status` (phase, exit code, EndReason).

* container ``terminated``: exit 0 -> COMPLETED; ``OOMKilled`` -> ERROR
  (out_of_memory); other non-zero -> ERROR (exit_nonzero), ``signal`` kept;
* Job condition ``Failed``/``DeadlineExceeded`` -> ERROR (deadline), also when
  the Job controller has already deleted the pod; a pod ``Failed`` with reason
  ``DeadlineExceeded`` (pod ``activeDeadlineSeconds``) likewise; ``Evicted`` ->
  ERROR (cancelled_by_platform);
* waiting ``ErrImagePull``/``ImagePullBackOff``/``InvalidImageName``: QUEUED with
  the reason as progress, ERROR (image_unavailable) once the grace period passed;
* ``PodScheduled=False``/``Unschedulable``: QUEUED with the scheduler's message,
  ERROR (unschedulable) after its grace period;
* a task whose cancel was asked ends ABORTED unless it had already completed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivoa_broker.protocol import EndReason, Phase, Progress, Status, Usage

Obj = dict[str, Any]

STATE_MAP: Mapping[str, Phase] = {
    "Pending": Phase.QUEUED,
    "Running": Phase.EXECUTING,
    "Succeeded": Phase.COMPLETED,
    "Failed": Phase.ERROR,
    "Unknown": Phase.UNKNOWN,
    "Complete": Phase.COMPLETED,
    "Terminating": Phase.EXECUTING,
}
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
BOOT_FAILURES = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


@dataclass(frozen=True)
class Grace:
    image_pull: float
    unschedulable: float


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _condition(obj: Obj | None, ctype: str) -> Obj | None:
    for c in (obj or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == ctype and c.get("status") == "True":
            return dict(c)
    return None


def _age(obj: Obj, now: datetime) -> float:
    created = _time(obj.get("metadata", {}).get("creationTimestamp"))
    return (now - created).total_seconds() if created else 0.0


def _usage(start: datetime | None, end: datetime | None) -> Usage | None:
    if start is None or end is None:
        return None
    return Usage(elapsed_seconds=max((end - start).total_seconds(), 0.0))


def job_status(
    job: Obj | None,
    pod: Obj | None,
    *,
    cancelled: bool,
    grace: Grace,
    now: datetime | None = None,
    endpoint: str | None = None,
) -> Status | None:
    """The status of one task; None when neither object exists and no cancel explains it."""
    now = now or datetime.now(UTC)
    status = _status(job, pod, grace, now, endpoint)
    if status is None:
        if cancelled:
            return Status(Phase.ABORTED, "Deleted", message="deleted on request")
        return None
    stoppable = status.phase not in (Phase.COMPLETED, Phase.ABORTED)
    ended_or_deleting = status.phase in (Phase.ERROR, Phase.QUEUED, Phase.PENDING) or _deleting(
        job, pod
    )
    if cancelled and stoppable and ended_or_deleting:
        return Status(
            Phase.ABORTED,
            status.native_state,
            message="deleted on request",
            exit_code=status.exit_code,
            signal=status.signal,
            started_at=status.started_at,
            ended_at=status.ended_at or now,
        )
    return status


def _deleting(job: Obj | None, pod: Obj | None) -> bool:
    return any((o or {}).get("metadata", {}).get("deletionTimestamp") for o in (job, pod))


def _status(
    job: Obj | None, pod: Obj | None, grace: Grace, now: datetime, endpoint: str | None
) -> Status | None:
    failed = _condition(job, "Failed")
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        return Status(
            Phase.ERROR,
            "Failed",
            message=failed.get("message") or "DeadlineExceeded",
            reason=EndReason.DEADLINE,
            ended_at=_time(failed.get("lastTransitionTime")),
            started_at=_time((job or {}).get("status", {}).get("startTime")),
        )
    if pod is None:
        return _without_pod(job, failed)
    pstatus = pod.get("status") or {}
    phase = str(pstatus.get("phase") or "Pending")
    if phase == "Failed" and pstatus.get("reason") in ("DeadlineExceeded", "Evicted"):
        reason = (
            EndReason.DEADLINE
            if pstatus["reason"] == "DeadlineExceeded"
            else EndReason.CANCELLED_BY_PLATFORM
        )
        return Status(
            Phase.ERROR,
            "Failed",
            message=pstatus.get("message") or pstatus["reason"],
            reason=reason,
        )
    states = pstatus.get("containerStatuses") or []
    state: Obj = states[0].get("state") or {} if states else {}
    if "terminated" in state:
        return _terminated(state["terminated"])
    if "running" in state:
        started = _time(state["running"].get("startedAt"))
        native = "Terminating" if pod.get("metadata", {}).get("deletionTimestamp") else "Running"
        ready = (_condition(pod, "Ready") or {}).get("status") == "True"
        if endpoint is not None and not ready:
            return Status(
                Phase.QUEUED,
                native,
                started_at=started,
                progress=Progress("waiting for the notebook to be ready"),
            )
        return Status(
            Phase.EXECUTING, native, started_at=started, endpoint=endpoint if ready else None
        )
    waiting = state.get("waiting") or {}
    why = str(waiting.get("reason") or "")
    if why in PULL_FAILURES:
        message = f"{why}: {waiting.get('message', '')}".strip(": ")
        if _age(pod, now) >= grace.image_pull:
            return Status(
                Phase.ERROR, "Pending", message=message, reason=EndReason.IMAGE_UNAVAILABLE
            )
        return Status(
            Phase.QUEUED, "Pending", message=message, progress=Progress(f"pulling image ({why})")
        )
    if why in BOOT_FAILURES:
        return Status(
            Phase.ERROR,
            "Pending",
            message=f"{why}: {waiting.get('message', '')}",
            reason=EndReason.BOOT_FAILURE,
        )
    for c in pstatus.get("conditions") or []:
        if (
            c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
        ):
            message = f"Unschedulable: {c.get('message', '')}"
            if _age(pod, now) >= grace.unschedulable:
                return Status(
                    Phase.ERROR, "Pending", message=message, reason=EndReason.UNSCHEDULABLE
                )
            return Status(Phase.QUEUED, "Pending", message=message)
    return Status(
        Phase.QUEUED,
        (STATE_MAP.get(phase) and phase) or "Pending",
        progress=Progress(why or "scheduling"),
    )


def _terminated(term: Obj) -> Status:
    code = int(term.get("exitCode", 0) or 0)
    started, ended = _time(term.get("startedAt")), _time(term.get("finishedAt"))
    sig = term.get("signal")
    usage = _usage(started, ended)
    if code == 0 and term.get("reason") != "OOMKilled":
        return Status(
            Phase.COMPLETED,
            "Succeeded",
            exit_code=0,
            started_at=started,
            ended_at=ended,
            usage=usage,
        )
    reason = (
        EndReason.OUT_OF_MEMORY if term.get("reason") == "OOMKilled" else EndReason.EXIT_NONZERO
    )
    if sig is None and code > 128 and reason is EndReason.OUT_OF_MEMORY:
        sig = code - 128
    message = f"{term.get('reason') or 'Error'}: exit code {code}"
    return Status(
        Phase.ERROR,
        "Failed",
        message=message,
        exit_code=code,
        signal=int(sig) if sig is not None else None,
        reason=reason,
        started_at=started,
        ended_at=ended,
        usage=usage,
    )


def _without_pod(job: Obj | None, failed: Obj | None) -> Status | None:
    if job is None:
        return None
    if _condition(job, "Complete") is not None:
        return Status(
            Phase.COMPLETED,
            "Complete",
            exit_code=0,
            ended_at=_time(job.get("status", {}).get("completionTime")),
        )
    if failed is not None:
        return Status(
            Phase.ERROR,
            "Failed",
            message=failed.get("message") or failed.get("reason"),
            reason=EndReason.EXIT_NONZERO,
        )
    if job.get("metadata", {}).get("deletionTimestamp"):
        return Status(Phase.EXECUTING, "Terminating", message="being deleted")
    return Status(
        Phase.QUEUED,
        "Pending",
        progress=Progress("waiting for the Job controller to create the pod"),
    )
