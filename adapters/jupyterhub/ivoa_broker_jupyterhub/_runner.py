"""The code a batch job runs on its single-user server.

The adapter starts a kernel on the job's server and executes
:func:`launch_code` there: it writes the job's spec, then starts
:data:`RUNNER` as a child process of the kernel and returns at once. The
runner executes the notebook with nbclient (or runs the command), with its
working directory the job's ``output`` folder, and finally writes
``status.json`` (state, exit code, error summary) atomically. Everything is
a child of the server: when the server stops, the kernel goes, and with it
(``PR_SET_PDEATHSIG``) the runner, the notebook's own kernel and the command.
``started.json`` is created exclusively, so a job runs at most once however
often the launch is attempted (two broker instances, a retry after a restart).

Layout on the server, relative to its root folder::

    ivoa-broker/<server>/input/      the staged notebook and inputs
    ivoa-broker/<server>/output/     the working folder: results
    ivoa-broker/<server>/log.txt     the command's stdout+stderr / the cells' text
    ivoa-broker/<server>/status.json {"state": "succeeded"|"failed", "exit_code": ..., ...}
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = ["RUNNER", "WORK_ROOT", "launch_code"]

WORK_ROOT = "ivoa-broker"

RUNNER = r"""
import ctypes, json, os, re, signal, subprocess, sys, time, traceback

def _pdeathsig():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass

_pdeathsig()
job = os.path.abspath(sys.argv[1])
spec = json.load(open(os.path.join(job, "spec.json")))
out = os.path.join(job, "output")
inp = os.path.join(job, "input")
os.makedirs(out, exist_ok=True)
os.makedirs(inp, exist_ok=True)
log = open(os.path.join(job, "log.txt"), "ab", buffering=0)

def finish(**state):
    state["ended"] = time.time()
    tmp = os.path.join(job, ".status.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, os.path.join(job, "status.json"))

ansi = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
env = dict(os.environ)
for name in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTERHUB_OAUTH_SCOPES"):
    env.pop(name, None)
env.update(spec.get("env") or {})
env.update(IVOA_BROKER_JOB_ID=spec["job_id"], IVOA_BROKER_OUTPUT_DIR=out, IVOA_BROKER_INPUT_DIR=inp)
try:
    if spec.get("notebook"):
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        nb = nbformat.read(os.path.join(inp, spec["notebook"]), as_version=4)
        kernel = spec.get("kernel") or nb.metadata.get("kernelspec", {}).get("name") or "python3"
        client = NotebookClient(nb, timeout=None, kernel_name=kernel,
                                resources={"metadata": {"path": out}})
        error, code = None, 0
        try:
            client.execute(env=env)
        except CellExecutionError as exc:
            code = 1
            cell = next((i for i, c in enumerate(nb.cells) if any(
                o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            lines = [ansi.sub("", str(line)) for line in (exc.traceback or "").splitlines()]
            lines = [line for line in lines if line.strip()][-6:]
            where = f"cell {cell}: " if cell is not None else ""
            error = f"{where}{exc.ename}: {exc.evalue}\n" + "\n".join(lines)
        finally:
            nbformat.write(nb, os.path.join(out, spec["notebook"]))
            for c in nb.cells:
                for o in c.get("outputs", []):
                    if o.get("output_type") == "stream":
                        log.write(str(o.get("text", "")).encode())
        finish(state="succeeded" if code == 0 else "failed", exit_code=code, error=error)
    else:
        proc = subprocess.run(spec["command"], cwd=out, env=env, stdin=subprocess.DEVNULL,
                              stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pdeathsig)
        code = proc.returncode
        sig = -code if code < 0 else None
        code = 128 + sig if sig else code
        finish(state="succeeded" if code == 0 else "failed", exit_code=code, signal=sig,
               error=None if code == 0 else f"command exited with {code}")
except BaseException as exc:
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finish(state="failed", exit_code=1, error=summary[-2000:])
"""

_LAUNCH = r"""
def _ivoa_broker_launch(job, spec, runner):
    import json, os, subprocess, sys
    os.makedirs(job, exist_ok=True)
    try:
        fd = os.open(os.path.join(job, "started.json"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return "already-started"
    with open(os.path.join(job, "spec.json"), "w") as f:
        json.dump(spec, f)
    with open(os.path.join(job, "runner.py"), "w") as f:
        f.write(runner)
    proc = subprocess.Popen([sys.executable, os.path.join(job, "runner.py"), job],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(job, "runner.err"), "ab"))
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": proc.pid}, f)
    globals().setdefault("_ivoa_broker_jobs", []).append(proc)
    return "started"

print(_ivoa_broker_launch(JOB, SPEC, RUNNER))
"""


def launch_code(job_dir: str, spec: Mapping[str, object]) -> str:
    """Python source that starts the runner for the job in ``job_dir`` (relative path)."""
    return _LAUNCH.replace(
        "JOB, SPEC, RUNNER",
        f"{job_dir!r}, __import__('json').loads({json.dumps(dict(spec))!r}), {RUNNER!r}",
    )
