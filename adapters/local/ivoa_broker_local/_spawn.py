"""Creating a job directory and starting its supervisor (blocking; run in a thread).

The supervisor (:mod:`ivoa_broker_local._runner`) is the leader of a new
session, with stdin ``/dev/null`` and its own output to ``runner.log``. It is
forked by the broker's **spawner** (:mod:`ivoa_broker_local._forkserver`, one
long-lived process per broker process, started on first use), so a job does
not pay a Python start-up; if the spawner cannot be had, the supervisor is
started as before with ``posix_spawn`` (``python -I _runner.py``). Neither is
an asyncio subprocess: asyncio kills the children of a transport it closes, and
the job must outlive the adapter instance (and the broker).

:func:`start_supervisor` is the one point where a job's supervisor is started
(engineers wrapping jobs in a sandbox hook in there or in the spec it reads).
:func:`launch` either returns the supervisor's :class:`RunnerRecord` (also
written to ``runner.json``) or raises with nothing left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import utcnow

from . import _forkserver, _runner
from ._inputs import place as place_inputs
from ._jobdir import JobDir, RunnerRecord
from ._procs import ProcIdentity, boot_id, identify, kill_session
from ._runner import JOB_ID_ENV, RUNNER_ENV, RUNNER_FILE, write_json_atomic

__all__ = [
    "FORKSERVER_SCRIPT",
    "RUNNER_SCRIPT",
    "STATE_DIRS_KEY",
    "Spawner",
    "launch",
    "runner_marker",
    "spawner_for",
    "start_supervisor",
]

log = logging.getLogger(__name__)

#: the job spec key naming folders of the job directory made before the command starts
#: (writable by the job even in the sandbox, e.g. the notebook runner's state)
STATE_DIRS_KEY = "state_dirs"

RUNNER_SCRIPT = Path(_runner.__file__).resolve()
FORKSERVER_SCRIPT = Path(_forkserver.__file__).resolve()
_DEFAULT_SIGNALS = tuple(s for s in _forkserver.DEFAULT_SIGNALS if s != signal.SIGCHLD)


def runner_marker(job_id: str) -> bytes:
    """The environment entry that marks the supervisor of ``job_id``."""
    return f"{RUNNER_ENV}={job_id}".encode()


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class SpawnerGone(OSError):
    """The spawner did not answer (it died, or could not start)."""


class Spawner:
    """The broker's fork server for one interpreter (see :mod:`._forkserver`).

    Thread-safe: requests are one line each way under a lock. Started on first
    use; restarted once if it died. It ends by itself when this process ends
    (end of file on its socket) or on :meth:`close`.
    """

    def __init__(self, python: str) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._buffer = b""

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._pid = os.posix_spawn(
                self.python,
                [self.python, "-I", str(FORKSERVER_SCRIPT)],
                {"PATH": os.defpath, "LANG": "C.UTF-8"},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, theirs.fileno(), 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
                setsigmask=(),
                setsigdef=_DEFAULT_SIGNALS,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._buffer = b""

    def _ask(self, job_dir: Path) -> dict[str, Any]:
        if self._sock is None:
            self._start()
        assert self._sock is not None
        self._sock.sendall(json.dumps({"job_dir": str(job_dir)}).encode() + b"\n")
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise SpawnerGone("the local job spawner ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def spawn(self, job_dir: Path) -> tuple[int, int]:
        """Fork a supervisor for ``job_dir`` (its ``job.json`` written): ``(pid, start_ticks)``."""
        with self._lock:
            try:
                answer = self._ask(job_dir)
            except OSError:
                self._discard()
                if (job_dir / RUNNER_FILE).exists():
                    raise  # it may have forked before dying: do not start a second one
                answer = self._ask(job_dir)  # a spawner that had died: once more
        if "error" in answer:
            raise OSError(f"the local job spawner refused: {answer['error']}")
        return int(answer["pid"]), int(answer["start_ticks"])

    def _discard(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, os.WNOHANG)
            self._pid = None

    def close(self) -> None:
        """End the spawner (its supervisors run on); reaps it."""
        with self._lock:
            pid = self._pid
            self._discard()
        if pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


_SPAWNERS: dict[str, Spawner] = {}
_SPAWNERS_LOCK = threading.Lock()


def spawner_for(python: str) -> Spawner:
    """This process's spawner for ``python`` (one per interpreter, shared by the
    adapter instances of one broker)."""
    with _SPAWNERS_LOCK:
        found = _SPAWNERS.get(python)
        if found is None:
            found = _SPAWNERS[python] = Spawner(python)
        return found


def _exec_supervisor(jobdir: JobDir, job_id: str, python: str) -> int:
    """The supervisor as its own interpreter (the fallback): ``posix_spawn``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    env = {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        JOB_ID_ENV: job_id,
        RUNNER_ENV: job_id,
    }
    return os.posix_spawn(
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


def start_supervisor(jobdir: JobDir, job_id: str, python: str) -> ProcIdentity:
    """Start the supervisor of the job whose ``job.json`` is in ``jobdir``.

    Forked by the spawner; when it cannot be had (it will not start, it died
    twice), started with ``posix_spawn`` instead.
    """
    try:
        pid, ticks = spawner_for(python).spawn(jobdir.path)
        return ProcIdentity(pid=pid, start_ticks=ticks, boot_id=boot_id())
    except OSError as exc:
        if (jobdir.path / RUNNER_FILE).exists():
            raise
        log.warning("local job spawner unavailable (%s); starting a supervisor process", exc)
    pid = _exec_supervisor(jobdir, job_id, python)
    ident = identify(pid)
    if ident is None:  # pragma: no cover - our own unreaped child always has a stat
        raise OSError(f"the supervisor (pid {pid}) disappeared at once")
    return ident


def launch(jobdir: JobDir, spec: dict[str, Any], python: str) -> RunnerRecord:
    """Create ``jobdir`` (which must not exist), write ``spec``, start the supervisor."""
    jobdir.path.parent.mkdir(parents=True, exist_ok=True)
    jobdir.path.mkdir(mode=0o700)
    pid: int | None = None
    try:
        jobdir.out.mkdir(mode=0o755)
        for name in spec.get(STATE_DIRS_KEY, ()):
            (jobdir.path / Path(name).name).mkdir(mode=0o700)
        place_inputs(jobdir.path, spec)  # the core's staged inputs, into in/
        # not fsynced: after a power loss no job survives anyway (a new boot id)
        write_json_atomic(jobdir.spec_file, spec)
        ident = start_supervisor(jobdir, str(spec["job_id"]), python)
        pid = ident.pid
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
