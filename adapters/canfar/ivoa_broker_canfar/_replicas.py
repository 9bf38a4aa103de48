"""Jobs run as N skaha sessions (extension ``canfar.replicas``): finding a job's
replicas in a listing, and one job status out of theirs.

The replicas are the sessions ``{base}-1 .. {base}-N`` (see :mod:`._naming`);
the handle's ``native_id`` is replica 1's session id. A replicated job is

* QUEUED while no replica runs and some have not ended, EXECUTING while any
  runs or waits;
* once every listed replica has ended: COMPLETED when all N completed, else
  ERROR (the first failed replica's reason and exit code, or the replicas no
  longer listed) or ABORTED (deleted on request).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ivoa_broker.protocol import Handle, Phase, Status
from ivoa_broker_canfar._models import SessionInfo
from ivoa_broker_canfar._naming import replica_from_name

__all__ = ["combine", "count", "members"]

_ENDED = (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED)


def count(handle: Handle) -> int:
    """How many replicas the handle's job was started with (1 when not replicated)."""
    value = handle.state.get("replicas", 1) if handle.state else 1
    return value if isinstance(value, int) and value > 1 else 1


def members(
    handle: Handle, sessions: Iterable[SessionInfo], prefix: str
) -> list[tuple[int, SessionInfo]]:
    """``(replica number, session)`` of the handle's job, by replica number.

    The job is recognised by the job id in the names, so a handle made from a
    bare native id (an orphan sweep's) still finds its siblings; for a name
    that carries no job id only the handle's own session is its member.
    """
    listed = list(sessions)
    job_id = handle.state.get("job_id") if handle.state else None
    if not isinstance(job_id, str):
        own = next((s for s in listed if s.id == handle.native_id), None)
        parsed = replica_from_name(prefix, own.name) if own is not None else None
        job_id = parsed[0] if parsed is not None else None
    found: dict[int, SessionInfo] = {}
    for session in listed:
        parsed = replica_from_name(prefix, session.name)
        if parsed is None:
            continue
        of, number = parsed
        if (job_id is not None and of == job_id) or session.id == handle.native_id:
            found.setdefault(number, session)
    return sorted(found.items())


def combine(statuses: Sequence[tuple[int, Status]], expected: int) -> Status:
    """One status for the job out of its replicas' ``(number, status)``."""
    phases = [s.phase for _, s in statuses]
    native = "/".join(s.native_state for _, s in statuses)
    started = [s.started_at for _, s in statuses if s.started_at is not None]
    first_start = min(started) if started else None
    running = sum(1 for p in phases if p is Phase.EXECUTING)
    if any(p not in _ENDED for p in phases):
        ended = sum(1 for p in phases if p in _ENDED)
        phase = Phase.EXECUTING if running or ended else Phase.QUEUED
        return Status(
            phase=phase,
            native_state=native,
            message=f"{running} of {expected} replicas running, {ended} ended",
            started_at=first_start,
        )
    missing = sorted(set(range(1, expected + 1)) - {n for n, _ in statuses})
    if missing and not any(p is Phase.ABORTED for p in phases):
        return Status(
            phase=Phase.ERROR,
            native_state=native,
            message=f"replicas {', '.join(map(str, missing))} of {expected} are gone from CANFAR",
            started_at=first_start,
        )
    for number, status in statuses:
        if status.phase is Phase.ERROR:
            return Status(
                phase=Phase.ERROR,
                native_state=native,
                message=f"replica {number}: {status.message or status.native_state}",
                exit_code=status.exit_code,
                started_at=first_start,
            )
    if any(p is Phase.ABORTED for p in phases):
        return Status(Phase.ABORTED, native, message="replicas deleted on request")
    return Status(Phase.COMPLETED, native, exit_code=0, started_at=first_start)
