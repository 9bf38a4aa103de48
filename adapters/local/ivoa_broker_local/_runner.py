"""The job supervisor: one small process per job, the leader of its own session.

The adapter starts it as ``python -I <this file> <job_dir>`` (``python -m
ivoa_broker_local._runner <job_dir>`` works too). It imports only the standard
library, so it starts fast and does not depend on the broker's environment, and
it outlives the broker: the broker may die (even by SIGKILL) and a fresh adapter
finds the job again through the files below.

Contract, in order:

1. read ``job.json`` (written by the adapter): argv, environment, limits;
2. become a child subreaper, so every orphaned descendant of the job is
   re-parented to the supervisor rather than to PID 1;
3. start the command in a **new process group** (pgid = its pid), cwd = the
   job directory, stdin ``/dev/null``, stdout/stderr to the files ``stdout`` and
   ``stderr``, with ``RLIMIT_AS`` = ``memory_bytes``, ``RLIMIT_CPU`` =
   ``cpu_seconds`` (soft) / ``cpu_hard_seconds`` (hard) when given, and
   ``RLIMIT_CORE`` = 0;
4. on SIGTERM/SIGINT/SIGHUP: forward SIGTERM to the job's process group and
   send it SIGKILL ``kill_grace_seconds`` later if it is still there; on
   SIGUSR1 (:data:`KILL_NOW`): SIGKILL it at once;
5. when the command ends: SIGKILL what is left of its process group and every
   other descendant, reap them all, so that nothing of the job survives it;
6. write ``exit.json`` **atomically** (temporary file, rename) with the
   return code or signal, start and end times, CPU time and peak RSS.

   It is not fsynced: the job's own outputs (``stdout``, ``out/``) are not
   either, so after a power loss a durable ``exit.json`` could only vouch for
   files that may be lost (a new boot id then makes the broker report the job
   as vanished), and on a busy broker the two fsyncs cost ~3 ms of every job's
   end (``bench/run.py``'s end -> WAIT row). The broker records the end in its
   own durable store as soon as it sees it.

``exit.json`` is the single source of truth for how the job ended: once it
exists, the job and all its processes are gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_FILE",
    "JOB_ID_ENV",
    "KILL_NOW",
    "OUTPUT_DIR_ENV",
    "OUT_DIR",
    "RUNNER_ENV",
    "RUNNER_FILE",
    "RUNNER_LOG",
    "SANDBOXED_KEY",
    "SPEC_FILE",
    "STDERR_FILE",
    "STDOUT_FILE",
    "main",
    "write_json_atomic",
]

SPEC_FILE = "job.json"
RUNNER_FILE = "runner.json"
EXIT_FILE = "exit.json"
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
RUNNER_LOG = "runner.log"
OUT_DIR = "out"

JOB_ID_ENV = "IVOA_BROKER_JOB_ID"
OUTPUT_DIR_ENV = "IVOA_BROKER_OUTPUT_DIR"
#: job spec key: the command is wrapped in a sandbox (see ``_sandbox.py``)
SANDBOXED_KEY = "exit_codes_carry_signals"
#: set in the supervisor's own environment only (marks it in ``/proc/<pid>/environ``)
RUNNER_ENV = "IVOA_BROKER_LOCAL_RUNNER"

_PR_SET_CHILD_SUBREAPER = 36
_TERMINATING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: "stop the job now": SIGKILL at once, then the usual reaping and exit.json
KILL_NOW = signal.SIGUSR1


def _now() -> str:
    return datetime.now(UTC).isoformat()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so readers see all of it or nothing
    (a temporary file, then a rename; not fsynced: see the module docstring)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def _listed_children(pid: int) -> list[int]:
    """Direct children of ``pid`` from ``/proc/<pid>/task/*/children`` (cheap; the
    kernel may miss a child that is being created or is exiting: [] then means
    "look properly")."""
    listed: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                listed += [int(c) for c in f.read().split()]
    except OSError:
        return []
    return listed


def _children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from a scan of /proc; Linux)."""
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(name))
    return found


def _kill_members(pgid: int, sig: int) -> None:
    """Send ``sig`` to every process of group ``pgid`` except its leader (from /proc)."""
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pgid:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            _kill(int(name), sig, group=False)


def _kill(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


class _Supervisor:
    def __init__(self, job_dir: Path, spec: dict[str, Any]) -> None:
        self.job_dir = job_dir
        self.spec = spec
        self.child: int | None = None
        self.term_requested = False
        self.escalated = False
        self.kill_now = False
        self.grace = float(spec.get("kill_grace_seconds", 10.0))
        #: the command runs under a sandbox (bubblewrap) whose outer process is the
        #: group leader: SIGTERM goes to the others (the sandbox would die at once,
        #: taking the job with it, and give it no grace), and the sandbox reports
        #: a death by signal N as exit status 128 + N
        self.sandboxed = bool(spec.get(SANDBOXED_KEY, False))

    # -- signals ---------------------------------------------------------------

    def install_handlers(self) -> None:
        for sig in _TERMINATING:
            signal.signal(sig, self._on_terminate)
        signal.signal(signal.SIGALRM, self._on_grace_over)
        signal.signal(KILL_NOW, self._on_kill_now)

    def _on_kill_now(self, signum: int, frame: object) -> None:
        self.term_requested = True
        self.kill_now = True
        self._on_grace_over(signal.SIGALRM, None)

    def _on_terminate(self, signum: int, frame: object) -> None:
        self.term_requested = True
        if self.child is None:
            return  # not started yet: run() sees term_requested and does not start it
        if self.sandboxed:
            _kill_members(self.child, signal.SIGTERM)
        else:
            _kill(self.child, signal.SIGTERM, group=True)
        if self.grace <= 0:
            self._on_grace_over(signal.SIGALRM, None)
        elif signal.getitimer(signal.ITIMER_REAL)[0] == 0:  # a repeated request does
            signal.setitimer(signal.ITIMER_REAL, self.grace)  # not postpone the SIGKILL

    def _on_grace_over(self, signum: int, frame: object) -> None:
        if self.child is not None:
            self.escalated = True
            _kill(self.child, signal.SIGKILL, group=True)

    def _stopping(self) -> bool:
        """Whether a terminating signal has arrived (set asynchronously by handlers)."""
        return self.term_requested

    # -- the job ---------------------------------------------------------------

    def _limits(self) -> None:
        """Runs in the job's process between fork and exec."""
        memory = self.spec.get("memory_bytes")
        if memory:
            _lower(resource.RLIMIT_AS, int(memory), int(memory))
        cpu = self.spec.get("cpu_seconds")
        if cpu:
            hard = int(self.spec.get("cpu_hard_seconds") or cpu)
            _lower(resource.RLIMIT_CPU, int(cpu), hard)
        _lower(resource.RLIMIT_CORE, 0, None)

    def run(self) -> dict[str, Any]:
        started_at = _now()
        record: dict[str, Any] = {
            "started_at": started_at,
            "returncode": None,
            "signal": None,
            "error": None,
        }
        if self._stopping():  # cancelled before the command started
            record.update(signal=int(signal.SIGTERM), term_requested=True, never_started=True)
            return record
        out = self.job_dir / STDOUT_FILE
        err = self.job_dir / STDERR_FILE
        try:
            with open(out, "ab") as stdout, open(err, "ab") as stderr:
                proc = subprocess.Popen(
                    self.spec["argv"],
                    cwd=self.job_dir,
                    env=self.spec["env"],
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    close_fds=True,
                    process_group=0,
                    preexec_fn=self._limits,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            record["error"] = f"could not start {self.spec['argv'][0]!r}: {exc}"
            record["returncode"] = 127 if isinstance(exc, FileNotFoundError) else 126
            return record
        self.child = proc.pid
        if self._stopping():  # a signal arrived while we were starting it
            self._on_terminate(signal.SIGTERM, None)
            if self.kill_now:
                self._on_grace_over(signal.SIGALRM, None)
        # Wait for the command without reaping it, so its pid (= its pgid) stays
        # ours while we kill what is left of its group.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        _kill(proc.pid, signal.SIGKILL, group=True)
        self.child = None  # from here on, handlers must not signal that pgid again
        signal.setitimer(signal.ITIMER_REAL, 0)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        self._reap_descendants()
        if os.WIFSIGNALED(status):
            record["signal"] = os.WTERMSIG(status)
        elif self.sandboxed and 128 < os.WEXITSTATUS(status) < 128 + signal.NSIG:
            record["signal"] = os.WEXITSTATUS(status) - 128
        else:
            record["returncode"] = os.WEXITSTATUS(status)
        record["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
        record["max_rss_bytes"] = usage.ru_maxrss * 1024
        return record

    def _reap_descendants(self) -> None:
        """Kill and reap every process still descended from the supervisor."""
        me = os.getpid()
        while True:
            try:  # the usual case, nothing left: no /proc reading at all
                if os.waitpid(-1, os.WNOHANG)[0]:
                    continue
            except ChildProcessError:
                return
            for pid in _listed_children(me) or _children_of(me):
                _kill(pid, signal.SIGKILL, group=False)
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def _lower(which: int, soft: int, hard: int | None) -> None:
    """Set a resource limit, never above the current hard limit."""
    _, cur_hard = resource.getrlimit(which)
    new_hard = cur_hard if hard is None else hard
    if cur_hard != resource.RLIM_INFINITY:
        new_hard = cur_hard if new_hard == resource.RLIM_INFINITY else min(new_hard, cur_hard)
    new_soft = soft if new_hard == resource.RLIM_INFINITY else min(soft, new_hard)
    resource.setrlimit(which, (new_soft, new_hard))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: _runner.py JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[0])
    supervisor: _Supervisor | None = None
    record: dict[str, Any]
    try:
        spec = json.loads((job_dir / SPEC_FILE).read_text(encoding="utf-8"))
        supervisor = _Supervisor(job_dir, spec)
        supervisor.install_handlers()
        _become_subreaper()
        record = supervisor.run()
    except Exception as exc:  # the supervisor's own failure: still say how it ended
        if supervisor is not None and supervisor.child is not None:
            _kill(supervisor.child, signal.SIGKILL, group=True)
        record = {"returncode": None, "signal": None, "error": f"supervisor failed: {exc!r}"}
    if supervisor is not None:
        record["term_requested"] = supervisor.term_requested
        record["escalated"] = supervisor.escalated
    record["ended_at"] = _now()
    write_json_atomic(job_dir / EXIT_FILE, record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
