"""Stopping local jobs: signals to supervisors and, as a last resort, to sessions.

All functions are blocking but quick (a ``/proc`` scan at most); the adapter
runs them in a thread. A supervisor is only ever signalled after its identity
(pid, start ticks, boot id) has been checked; the processes of a job whose
supervisor is gone are found by session id *and* the job's environment marker,
so that a recycled id can never make us kill a stranger.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

from ._jobdir import JobDir, RunnerRecord
from ._procs import ProcIdentity, is_alive, kill_session
from ._runner import JOB_ID_ENV, KILL_NOW

__all__ = ["job_marker", "kill_if_alive", "kill_leftovers", "signal_supervisor"]

log = logging.getLogger(__name__)


def job_marker(job_id: str) -> bytes:
    """The environment entry every process of ``job_id`` starts with."""
    return f"{JOB_ID_ENV}={job_id}".encode()


def kill_leftovers(record: RunnerRecord, jobdir: JobDir) -> None:
    """SIGKILL what is left of a job whose supervisor is gone."""
    kill_session(record.pid, signal.SIGKILL, marker=job_marker(jobdir.job_id()))


def signal_supervisor(
    record: RunnerRecord | None, jobdir: JobDir, *, now: bool
) -> ProcIdentity | None:
    """Ask a live supervisor to stop its job: SIGTERM (grace period, then SIGKILL)
    or, with ``now``, :data:`KILL_NOW`. Returns its identity if it was signalled;
    if it is gone, kills the job's leftovers instead and returns ``None``."""
    if record is None:
        return None
    if is_alive(record.identity):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, KILL_NOW if now else signal.SIGTERM)
        return record.identity
    kill_leftovers(record, jobdir)
    return None


def kill_if_alive(ident: ProcIdentity) -> None:
    """The last resort: SIGKILL a supervisor that did not end, with its whole session."""
    if is_alive(ident):
        log.warning("local job supervisor %s did not stop; killing its session", ident.pid)
        kill_session(ident.pid, signal.SIGKILL)
