"""The spawner: one long-lived process per adapter instance that forks job supervisors.

Starting a job used to cost a fresh Python interpreter for its supervisor
(``python -I _runner.py``, ~30 ms of start-up before the command runs). The
spawner pays that once: the adapter starts it (``python -I <this file>``, a
session leader, stdin = one end of a socket pair) and asks it for each job;
it ``fork()``s, and the child becomes exactly the supervisor
:mod:`ivoa_broker_local._runner` describes (a new session, stdin
``/dev/null``, output to ``runner.log``, default signal dispositions, an empty
signal mask), then runs :func:`_runner.main` for the job directory.

Protocol, one JSON line each way per job over the socket: ``{"job_dir": ...}``
-> ``{"pid": N, "start_ticks": T}`` (identity read while the child cannot be
reaped yet) or ``{"error": "..."}``. End of file on the socket (the adapter
closed it, or the broker died, even by SIGKILL) ends the spawner; the
supervisors it forked run on, each its own session, exactly as before, and are
re-parented. Ended supervisors are reaped by the spawner while it lives.

Standard library only, and single-threaded, so ``fork()`` is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__:
    from . import _runner
else:  # run as a script (python -I <file>): the runner sits next to it
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _runner  # type: ignore[import-not-found,no-redef]

__all__ = ["DEFAULT_SIGNALS", "main"]

#: signals a supervisor starts with in their default disposition
DEFAULT_SIGNALS = (
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
    signal.SIGCHLD,
)


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return int(raw[raw.rfind(b")") + 2 :].split()[19])


def _become_supervisor(job_dir: Path, inherited: tuple[int, ...], ready: int) -> int:
    """In the forked child: the supervisor's clean start, then its work."""
    signal.set_wakeup_fd(-1)
    for fd in inherited:
        os.close(fd)
    os.setsid()
    os.write(ready, b"+")  # the spawner answers only once we lead our own session
    os.close(ready)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(job_dir / _runner.RUNNER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdout
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    for sig in DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    os.chdir(job_dir)
    _record_self(job_dir)
    return _runner.main([str(job_dir)])


def _record_self(job_dir: Path) -> None:
    """Write ``runner.json`` unless the adapter has: a broker killed between
    asking for the fork and recording the answer still finds this supervisor
    (the exec'd supervisor is found by its environment marker instead)."""
    target = job_dir / _runner.RUNNER_FILE
    if target.exists():
        return
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        boot = f.read().strip()
    me = os.getpid()
    record = {
        "pid": me,
        "start_ticks": _start_ticks(me),
        "boot_id": boot,
        "started_at": datetime.now(UTC).isoformat(),
    }
    tmp = job_dir / f".{_runner.RUNNER_FILE}.{me}.tmp"
    tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    if not target.exists():
        os.replace(tmp, target)
    else:
        tmp.unlink()


def _reap() -> None:
    """Reap every ended supervisor (they are our children while we live)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _fork(job_dir: Path, inherited: tuple[int, ...]) -> dict[str, Any]:
    if not (job_dir / _runner.SPEC_FILE).is_file():
        return {"error": f"no {_runner.SPEC_FILE} in {job_dir}"}
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
        code = 1
        try:
            os.close(ready_r)
            code = _become_supervisor(job_dir, inherited, ready_w)
        finally:
            os._exit(code)
    os.close(ready_w)
    try:
        os.read(ready_r, 1)  # b"+" once it has its session (b"" if it died first)
    finally:
        os.close(ready_r)
    # only serve() reaps, and not before this returns: the child's stat is still there
    return {"pid": pid, "start_ticks": _start_ticks(pid)}


def serve(channel: int) -> None:
    """Answer requests on ``channel`` until it reaches end of file; reap ended
    supervisors when SIGCHLD says so (through a wake-up pipe, no polling)."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    inherited = (channel, wake_r, wake_w)
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([channel, wake_r], [], [])
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap()
        if channel not in ready:
            continue
        chunk = os.read(channel, 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                request = json.loads(line)
                answer = _fork(Path(request["job_dir"]), inherited)
            except Exception as exc:  # say why; the adapter raises it
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            try:
                os.write(channel, json.dumps(answer).encode() + b"\n")
            except OSError:  # the adapter is gone
                return


def main() -> int:
    # the adapter talks on fd 0; SIGTERM/SIGINT end the spawner, not its jobs
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    serve(0)
    _reap()
    return 0


if __name__ == "__main__":
    sys.exit(main())
