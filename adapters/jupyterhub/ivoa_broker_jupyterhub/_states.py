"""What a job's named server and its run say, as a contract Status.

Native states (this adapter's own words for what the hub and the runner report):

============  =========  ====================================================
native        phase      meaning
============  =========  ====================================================
spawning      QUEUED     the hub is starting the server (progress events)
preparing     EXECUTING  the server is ready; inputs are being staged / run started
running       EXECUTING  interactive: the endpoint serves; batch: the run goes on
stopping      EXECUTING  the hub is stopping the server
succeeded     COMPLETED  batch run ended with 0; interactive session ended
failed        ERROR      batch run ended non-zero or a cell raised
spawn-failed  ERROR      the server stopped before it was ready
lost          ERROR      the server stopped while a batch run was going on
cancelled     ABORTED    stopped at the broker's request
============  =========  ====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ivoa_broker.protocol import EndReason, Phase, Progress, Status

from .client import ServerInfo

__all__ = ["STATE_MAP", "derive"]

STATE_MAP: Mapping[str, Phase] = {
    "spawning": Phase.QUEUED,
    "preparing": Phase.EXECUTING,
    "running": Phase.EXECUTING,
    "stopping": Phase.EXECUTING,
    "succeeded": Phase.COMPLETED,
    "failed": Phase.ERROR,
    "spawn-failed": Phase.ERROR,
    "lost": Phase.ERROR,
    "cancelled": Phase.ABORTED,
}


def _status(native: str, **kw: Any) -> Status:
    return Status(phase=STATE_MAP[native], native_state=native, **kw)


def final_status(final: Mapping[str, Any], started: datetime | None) -> Status:
    """The Status of a batch run from the runner's ``status.json``."""
    ended = None
    if isinstance(final.get("ended"), int | float):
        ended = datetime.fromtimestamp(float(final["ended"]), UTC)
    code = final.get("exit_code")
    exit_code = int(code) if isinstance(code, int) else None
    if final.get("state") == "succeeded":
        return _status("succeeded", exit_code=exit_code or 0, started_at=started, ended_at=ended)
    sig = final.get("signal")
    return _status(
        "failed",
        exit_code=exit_code if exit_code else 1,
        signal=int(sig) if isinstance(sig, int) else None,
        reason=EndReason.EXIT_NONZERO,
        message=str(final.get("error") or "the run failed")[:4000],
        started_at=started,
        ended_at=ended,
    )


def derive(
    *,
    kind: str,
    server: ServerInfo | None,
    cancel_requested: bool,
    final: Mapping[str, Any] | None,
    prepared: bool,
    endpoint: str | None,
    progress: Progress | None,
    spawn_error: str | None,
) -> Status | None:
    """The job's Status, or None when the hub no longer knows its server (lost)."""
    started = server.started_at if server is not None else None
    if final is not None:
        return final_status(final, started)
    if server is None or (server.stopped and not server.pending):
        if cancel_requested:
            return _status("cancelled", started_at=started)
        if server is None:
            return None
        if kind == "interactive" and prepared:
            return _status("succeeded", message="the session's server was stopped")
        if prepared:
            return _status(
                "lost",
                reason=EndReason.CANCELLED_BY_PLATFORM,
                message="the server stopped before the notebook run ended",
                exit_code=1,
            )
        return _status(
            "spawn-failed",
            reason=EndReason.BOOT_FAILURE,
            message=spawn_error or "the server stopped before it was ready",
            exit_code=1,
        )
    if server.pending == "stop":
        return _status("stopping", started_at=started)
    if server.pending or not server.ready:
        return _status(
            "spawning",
            message=progress.message if progress else "spawning",
            progress=progress or Progress("spawning"),
        )
    if not prepared:
        return _status("preparing", started_at=started, message="staging inputs")
    if kind == "interactive":
        return _status("running", started_at=started, endpoint=endpoint)
    return _status("running", started_at=started)
