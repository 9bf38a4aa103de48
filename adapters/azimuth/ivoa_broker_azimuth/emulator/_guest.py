"""The emulated guest: a machine's cloud-init user data run as a local process.

What cloud-init would do with a ``#!`` user-data script: run it once, as the machine's
first boot ends, with its output on the console (which ``machines/<id>/logs/`` returns).
A ``poweroff`` command on ``PATH`` records the power-off; when the script has finished the
machine is ``SHUTOFF`` / ``Shut down`` if it powered off, else it stays ``ACTIVE``, as a
real server does. The image is not booted: the script runs on this host, and the image's
``docker``/``podman`` are stand-ins that run a container's command on this host too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from ._model import EmulatedMachine

__all__ = ["kill_guest", "run_guest"]

_POWEROFF = """#!/bin/sh
# emulated poweroff: tell the emulator, then stop this shell's parent script
: > "$AZIMUTH_EMULATOR_POWEROFF"
exit 0
"""

#: ``docker``/``podman`` in the emulated image: ``run [opts] IMAGE [CMD...]`` runs CMD on
#: this host (the image is not pulled), with ``-e`` variables and ``-v`` mounts mapped to
#: host paths (a variable whose value is a mount target gets the host path)
_CONTAINER = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
if not args or args[0] != "run":
    sys.exit("emulated container runtime: only 'run' is supported")
args = args[1:]
env = dict(os.environ)
mounts = {}
while args and args[0].startswith("-"):
    opt = args.pop(0)
    if opt in ("--rm", "-i", "-t", "-it", "-d"):
        continue
    value = args.pop(0) if "=" not in opt else opt.split("=", 1)[1]
    opt = opt.split("=", 1)[0]
    if opt in ("-v", "--volume"):
        host, target = value.split(":")[:2]
        mounts[target] = host
    elif opt in ("-e", "--env"):
        name, eq, val = value.partition("=")
        if eq:
            env[name] = val
if not args:
    sys.exit("emulated container runtime: no image")
image, cmd = args[0], args[1:]
for name, val in list(env.items()):
    if val in mounts:
        env[name] = mounts[val]
if not cmd:
    sys.exit(f"emulated container runtime: {image} has no default command here")
os.execvpe(cmd[0], cmd, env)
"""

_CONSOLE_LINES = 2000


async def run_guest(machine: EmulatedMachine) -> None:
    """Run ``machine.userdata`` to its end; update the machine's status as Nova would."""
    work = tempfile.mkdtemp(prefix=f"azimuth-guest-{machine.id[:8]}-")
    machine.workdir = work
    bindir = Path(work) / "bin"
    bindir.mkdir()
    poweroff = bindir / "poweroff"
    poweroff.write_text(_POWEROFF)
    poweroff.chmod(0o755)
    for runtime in ("docker", "podman"):
        shim = bindir / runtime
        shim.write_text(_CONTAINER)
        shim.chmod(0o755)
    flag = Path(work) / "powered-off"
    script = Path(work) / "user-data"
    script.write_text(machine.userdata or "")
    script.chmod(0o700)
    env = {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": work,
        "TMPDIR": work,
        "AZIMUTH_EMULATOR_POWEROFF": str(flag),
    }
    machine.console.append(f"cloud-init: running user data of {machine.name}")
    if (machine.userdata or "").startswith("#!"):
        argv = [str(script)]
    else:  # cloud-config and others: nothing to run in this emulation
        machine.console.append("cloud-init: user data is not a script; nothing to run")
        return
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    machine.process = proc
    assert proc.stdout is not None
    async for raw in proc.stdout:
        machine.console.append(raw.decode(errors="replace").rstrip("\n"))
        del machine.console[:-_CONSOLE_LINES]
    rc = await proc.wait()
    machine.process = None
    machine.console.append(f"cloud-init: user data script finished with status {rc}")
    if flag.exists():
        machine.status = "SHUTOFF"
        machine.power_state = "Shut down"
        machine.task = None
    shutil.rmtree(work, ignore_errors=True)


def kill_guest(machine: EmulatedMachine) -> None:
    """Stop the guest's processes (the machine is being deleted)."""
    proc = machine.process
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for task in machine.tasks:
        task.cancel()
    if machine.workdir:
        shutil.rmtree(machine.workdir, ignore_errors=True)
