"""The POSIX ``sh`` scripts the adapter runs on the remote host, and their answers.

One job is one directory ``<work_dir>/<job_id>``::

    job_id      the broker job id (marks the directory as ours, for list_native)
    run.sh      the job: exports, then ``exec`` of the argv
    pid         pid of the wrapper = the job's process group (setsid)
    stdout stderr
    exit        the exit code, written (atomically) when the job ends
    cancelled   present once a cancel was asked
    out/        the job's working directory; its files become results

The wrapper traps SIGTERM so that a cancelled job still gets its exit code
written. Status needs Linux ``/proc`` (zombies count as ended).
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivoa_broker.protocol import FatalError

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STARTED = "IVOA-STARTED"
EXISTS = "IVOA-EXISTS"

_WRAPPER = (
    "trap : TERM; echo $$ > pid.tmp && mv pid.tmp pid; cd out || exit 1; "
    "sh ../run.sh > ../stdout 2> ../stderr < /dev/null; "
    "echo $? > ../exit.tmp; mv ../exit.tmp ../exit"
)


def q(value: str) -> str:
    return shlex.quote(value)


def job_dir(work_dir: str, job_id: str) -> str:
    return f"{work_dir.rstrip('/')}/{job_id}"


def run_script(command: Sequence[str], env: Mapping[str, str], walltime: int | None) -> str:
    """The job itself: ``run.sh``."""
    lines = [f"export {name}={q(value)}" for name, value in env.items()]
    prefix = f"timeout -s TERM {int(walltime)} " if walltime else ""
    lines.append("exec " + prefix + " ".join(q(arg) for arg in command))
    return "\n".join(lines) + "\n"


def submit_script(work_dir: str, job_id: str, run_sh: str) -> str:
    """Create the job directory atomically (idempotence) and start the job detached."""
    d = q(job_dir(work_dir, job_id))
    delim = f"IVOA_EOF_{uuid.uuid4().hex}"
    return f"""mkdir -p {q(work_dir)} || exit 90
if ! mkdir {d} 2>/dev/null; then echo {EXISTS}; exit 0; fi
mkdir {d}/out && printf '%s\\n' {q(job_id)} > {d}/job_id || exit 91
cat > {d}/run.sh <<'{delim}'
{run_sh}{delim}
cd {d} && nohup setsid sh -c {q(_WRAPPER)} > /dev/null 2>&1 < /dev/null &
i=0
while [ ! -s {d}/pid ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
if [ ! -s {d}/pid ]; then rm -rf {d}; echo 'the job did not start' >&2; exit 92; fi
echo {STARTED}
"""


def status_script(dirs: Sequence[str]) -> str:
    """One line per directory: ``dir|pid|alive|exit|cancelled|start|end`` or ``dir|gone``."""
    return (
        "for d in " + " ".join(q(d) for d in dirs) + "; do\n"
        """  if [ ! -d "$d" ]; then echo "$d|gone"; continue; fi
  p=$(cat "$d/pid" 2>/dev/null); e=$(cat "$d/exit" 2>/dev/null)
  a=0
  case "$p" in ''|*[!0-9]*) ;; *)
    s=$(sed -n 's/^.*) \\(.\\).*$/\\1/p' "/proc/$p/stat" 2>/dev/null)
    case "$s" in ''|Z|X|x) ;; *) a=1 ;; esac ;;
  esac
  c=0; [ -e "$d/cancelled" ] && c=1
  t0=$(stat -c %Y "$d/pid" 2>/dev/null); t1=$(stat -c %Y "$d/exit" 2>/dev/null)
  echo "$d|$p|$a|$e|$c|$t0|$t1"
done
"""
    )


def cancel_script(d: str, grace: int) -> str:
    """Ask the job's process group to stop (TERM, KILL after ``grace`` seconds)."""
    dq = q(d)
    later = f"sleep {int(grace)}; [ -d {dq} ] && [ ! -f {dq}/exit ] && kill -KILL -$0"
    return f"""[ -d {dq} ] || exit 0
[ -f {dq}/exit ] && exit 0
: > {dq}/cancelled
p=$(cat {dq}/pid 2>/dev/null)
case "$p" in ''|*[!0-9]*) exit 0 ;; esac
kill -TERM -"$p" 2>/dev/null
nohup setsid sh -c {q(later)} "$p" > /dev/null 2>&1 < /dev/null &
exit 0
"""


def cleanup_script(d: str) -> str:
    """Kill what still runs and remove the directory; a missing directory is fine."""
    dq = q(d)
    return f"""[ -d {dq} ] || exit 0
p=$(cat {dq}/pid 2>/dev/null)
case "$p" in ''|*[!0-9]*) ;; *) [ -f {dq}/exit ] || kill -KILL -"$p" 2>/dev/null ;; esac
rm -rf {dq}
"""


def logs_script(d: str, limit: int) -> str:
    dq = q(d)
    return (
        f"tail -c {int(limit)} {dq}/stdout 2>/dev/null; printf '\\036'; "
        f"tail -c {int(limit)} {dq}/stderr 2>/dev/null; true"
    )


def list_script(work_dir: str) -> str:
    return f"""cd {q(work_dir)} 2>/dev/null || exit 0
for d in */; do
  d=${{d%/}}; [ -f "$d/job_id" ] && printf '%s|%s\\n' "$d" "$(head -n 1 "$d/job_id")"
done
true
"""


@dataclass(frozen=True)
class RemoteState:
    """One parsed line of :func:`status_script`."""

    dir: str
    gone: bool
    pid: int | None = None
    alive: bool = False
    exit_code: int | None = None
    cancelled: bool = False
    started: int | None = None
    ended: int | None = None


def _int(text: str, what: str) -> int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise FatalError(
            f"the remote host reported a garbled {what}", detail=f"{what}={text[:80]!r}"
        ) from None


def parse_status(output: str) -> dict[str, RemoteState]:
    """Parse :func:`status_script` output; anything unexpected is a :class:`FatalError`."""
    states: dict[str, RemoteState] = {}
    for line in output.splitlines():
        fields = line.split("|")
        if len(fields) == 2 and fields[1] == "gone":
            states[fields[0]] = RemoteState(fields[0], gone=True)
            continue
        if len(fields) != 7 or fields[2] not in ("0", "1") or fields[4] not in ("0", "1"):
            raise FatalError(
                "the remote host sent an unreadable status", detail=f"line={line[:200]!r}"
            )
        d, pid, alive, code, cancelled, t0, t1 = fields
        states[d] = RemoteState(
            d,
            gone=False,
            pid=_int(pid, "pid"),
            alive=alive == "1",
            exit_code=_int(code, "exit code"),
            cancelled=cancelled == "1",
            started=_int(t0, "start time"),
            ended=_int(t1, "end time"),
        )
    return states


def native_state(state: RemoteState, cancel_requested: bool) -> str:
    """The native state name of a job (see ``_states``)."""
    stopped = state.cancelled or cancel_requested
    if state.exit_code is not None:
        if state.exit_code == 0:
            return "exited"
        return "cancelled" if stopped else "failed"
    if state.pid is None:
        return "starting"
    if state.alive:
        return "running"
    return "cancelled" if stopped else "lost"
