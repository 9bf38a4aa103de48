"""Reading what a local job is doing: its Handle state, its directory, its supervisor.

Everything here is blocking but cheap (a few small files and ``/proc`` reads
per job); the adapter runs it in a thread. A job is described by its Handle
*or*, when the Handle's state is empty (a job found by ``list_native``), by
its directory alone.

Handle ``state`` (JSON)::

    {"runner": {"pid": int, "start_ticks": int, "boot_id": str, "started_at": iso},
     "memory_bytes": int | null, "cpu_seconds": int | null}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import JSON, Handle, Status

from ._jobdir import JobDir, RunnerRecord, is_native_id, tail
from ._procs import ProcIdentity, is_alive
from ._states import RUNNING, STATE_MAP, Ending, Limits, describe_exit, describe_vanished
from ._watch import reap_zombie

__all__ = ["Observation", "Observer", "handle_state", "limits_from_spec"]


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def handle_state(record: RunnerRecord, limits: Limits) -> dict[str, JSON]:
    """The ``Handle.state`` of a job (see the module docstring)."""
    return {
        "runner": record.to_json(),
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.cpu_seconds,
    }


def limits_from_spec(spec: Mapping[str, Any] | None) -> Limits:
    """The limits recorded in a job's ``job.json``."""
    if spec is None:
        return Limits()
    return Limits(
        memory_bytes=_opt_int(spec.get("memory_bytes")),
        cpu_seconds=_opt_int(spec.get("cpu_seconds")),
    )


@dataclass(frozen=True)
class Observation:
    """A job's status, and its supervisor while that is running (to be watched)."""

    status: Status
    running: ProcIdentity | None


class Observer:
    """Reads jobs under one work directory."""

    def __init__(self, work_dir: Path, *, error_tail_bytes: int) -> None:
        self.work_dir = work_dir
        self.error_tail_bytes = error_tail_bytes

    def jobdir(self, handle: Handle) -> JobDir | None:
        """The job's directory (``None`` for a native id this adapter never makes)."""
        if not is_native_id(handle.native_id):
            return None
        return JobDir(self.work_dir, handle.native_id)

    @staticmethod
    def runner(handle: Handle, jobdir: JobDir) -> RunnerRecord | None:
        """The supervisor: from the Handle, else from ``runner.json``."""
        data = handle.state.get("runner")
        if isinstance(data, dict):
            record = RunnerRecord.from_json(data)
            if record is not None:
                return record
        return jobdir.read_runner()

    @staticmethod
    def limits(handle: Handle, jobdir: JobDir) -> Limits:
        """The job's limits: from the Handle, else from ``job.json``."""
        if "memory_bytes" in handle.state or "cpu_seconds" in handle.state:
            return Limits(
                memory_bytes=_opt_int(handle.state.get("memory_bytes")),
                cpu_seconds=_opt_int(handle.state.get("cpu_seconds")),
            )
        return limits_from_spec(jobdir.read_spec())

    @staticmethod
    def _ended(
        ending: Ending,
        record: RunnerRecord | None,
        started: datetime | None,
        ended: datetime | None,
    ) -> Status:
        return Status(
            phase=STATE_MAP[ending.native_state],
            native_state=ending.native_state,
            message=ending.message,
            exit_code=ending.exit_code,
            started_at=record.started_at if record is not None else started,
            ended_at=ended,
        )

    def observe(self, handle: Handle) -> Observation | None:
        """The job's status now; ``None`` if its directory is gone (the job is gone).

        Order matters: ``exit.json`` first, then the supervisor's liveness, then
        ``exit.json`` again, because the supervisor writes it just before it ends.
        """
        jobdir = self.jobdir(handle)
        if jobdir is None or not jobdir.exists():
            return None
        record = self.runner(handle, jobdir)
        for attempt in range(2):
            exit_record = jobdir.read_exit()
            if exit_record is not None:
                ending = describe_exit(
                    exit_record,
                    cancel_requested=handle.cancel_requested,
                    limits=self.limits(handle, jobdir),
                    stderr_tail=tail(jobdir.stderr, self.error_tail_bytes),
                )
                status = self._ended(ending, record, exit_record.started_at, exit_record.ended_at)
                return Observation(status, None)
            if attempt == 0 and record is not None:
                if is_alive(record.identity):
                    status = Status(
                        phase=STATE_MAP[RUNNING], native_state=RUNNING, started_at=record.started_at
                    )
                    return Observation(status, record.identity)
                reap_zombie(record.identity)
        ending = describe_vanished(
            cancel_requested=handle.cancel_requested, pid=record.pid if record else 0
        )
        return Observation(self._ended(ending, record, None, None), None)

    def observe_many(self, handles: Sequence[Handle]) -> dict[str, Observation]:
        found: dict[str, Observation] = {}
        for handle in handles:
            seen = self.observe(handle)
            if seen is not None:
                found[handle.native_id] = seen
        return found
