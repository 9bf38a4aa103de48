"""Creating a job directory and starting its supervisor (blocking; run in a thread).

The supervisor (:mod:`ivoa_broker_local._runner`) is started with
``posix_spawn`` as the leader of a new session, with stdin ``/dev/null`` and
its own output to ``runner.log``. It is deliberately *not* an asyncio
subprocess: asyncio kills the children of a transport it closes, and the job
must outlive the adapter instance (and the broker).

:func:`launch` either returns the supervisor's :class:`RunnerRecord` (also
written to ``runner.json``) or raises with nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import utcnow

from . import _runner
from ._inputs import place as place_inputs
from ._jobdir import JobDir, RunnerRecord
from ._procs import identify, kill_session
from ._runner import JOB_ID_ENV, RUNNER_ENV, write_json_atomic

__all__ = ["RUNNER_SCRIPT", "launch", "runner_marker"]

RUNNER_SCRIPT = Path(_runner.__file__).resolve()
_DEFAULT_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGPIPE,
    signal.SIGXCPU,
    signal.SIGXFSZ,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
)


def runner_marker(job_id: str) -> bytes:
    """The environment entry that marks the supervisor of ``job_id``."""
    return f"{RUNNER_ENV}={job_id}".encode()


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def launch(jobdir: JobDir, spec: dict[str, Any], python: str) -> RunnerRecord:
    """Create ``jobdir`` (which must not exist), write ``spec``, start the supervisor."""
    jobdir.path.parent.mkdir(parents=True, exist_ok=True)
    jobdir.path.mkdir(mode=0o700)
    pid: int | None = None
    try:
        jobdir.out.mkdir(mode=0o755)
        place_inputs(jobdir.path, spec)  # the core's staged inputs, into in/
        write_json_atomic(jobdir.spec_file, spec)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        job_id = str(spec["job_id"])
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            JOB_ID_ENV: job_id,
            RUNNER_ENV: job_id,
        }
        pid = os.posix_spawn(
            python,
            [python, "-I", str(RUNNER_SCRIPT), str(jobdir.path)],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(jobdir.runner_log), flags, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
            # a clean start whatever the broker's own signal state: nothing
            # blocked, and no inherited "ignore" for the signals that end jobs
            setsigmask=(),
            setsigdef=_DEFAULT_SIGNALS,
        )
        ident = identify(pid)
        if ident is None:  # pragma: no cover - our own unreaped child always has a stat
            raise OSError(f"the supervisor (pid {pid}) disappeared at once")
        record = RunnerRecord(
            pid=pid, start_ticks=ident.start_ticks, boot_id=ident.boot_id, started_at=utcnow()
        )
        write_json_atomic(jobdir.runner_file, record.to_json())
        return record
    except BaseException:
        if pid is not None:
            with contextlib.suppress(OSError):
                kill_session(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        _remove(jobdir.path)
        raise
