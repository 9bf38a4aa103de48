"""The cloud-init user data a batch virtual machine boots with: run, report, power off.

For adapters of clouds whose machines boot from an image with cloud-init (OpenStack's
Nova, Azimuth on top of it). cloud-init runs a ``#!`` user-data script once, as root,
late in boot. The script:

1. makes a work directory with ``out/`` (``$IVOA_BROKER_OUTPUT_DIR``: files left there
   become results);
2. downloads the job's inputs (``inputs/``), exports the job's environment;
3. runs the command, or the OCI image with docker/podman (``out/`` mounted at ``/out``),
   with stdout/stderr to files; with ``watchdog`` the task runs under a watchdog that
   stops it at ``time_limit`` seconds (TERM, then KILL ten seconds later; 0 or ``None``:
   never) and the report says ``timed_out=1`` (else ``0``);
4. POSTs ``exit_code`` and the files as multipart to the callback URL, with the per-job
   secret as a bearer token read from a mode-600 file (never on a command line); retries;
5. powers the machine off (``poweroff``), which Nova shows as SHUTOFF.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

__all__ = ["MAX_USER_DATA_BYTES", "render_user_data"]

#: Nova's limit is 65535 bytes of base64; 3/4 of that is the raw limit
MAX_USER_DATA_BYTES = 49_000

_HEAD = """#!/bin/sh
# ivoa-broker job {job_id_comment}: run the task, report to the broker, power off.
IVOA_BROKER_JOB_ID={job_id}
IVOA_CALLBACK_URL={callback_url}
W=$(mktemp -d "${{TMPDIR:-/var/tmp}}/ivoa-job.XXXXXX" 2>/dev/null || mktemp -d)
mkdir -p "$W/out" "$W/inputs"
umask 077
printf 'Authorization: Bearer %s\\n' {secret} > "$W/.auth"
umask 022
cd "$W" || exit 1
export IVOA_BROKER_JOB_ID IVOA_BROKER_OUTPUT_DIR="$W/out" IVOA_BROKER_INPUT_DIR="$W/inputs"
{env}
run_task() {{
{inputs}
{run}
}}
"""

_FOREGROUND = """run_task >"$W/stdout" 2>"$W/stderr" </dev/null
rc=$?
set -- -F "exit_code=$rc" \\
"""

_WATCHED = """run_task >"$W/stdout" 2>"$W/stderr" </dev/null &
task=$!
watchdog=
if [ {limit} -gt 0 ]; then
  (sleep {limit}; : > "$W/.timed_out"; kill -TERM "$task"; sleep 10; kill -KILL "$task") \\
    >/dev/null 2>&1 &
  watchdog=$!
fi
wait "$task"
rc=$?
[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
timed_out=0
[ -f "$W/.timed_out" ] && timed_out=1
set -- -F "exit_code=$rc" -F "timed_out=$timed_out" \\
"""

_REPORT = """  -F "stdout=@$W/stdout;type=text/plain" -F "stderr=@$W/stderr;type=text/plain"
for f in "$W"/out/*; do
  [ -f "$f" ] || continue
  n=$(basename "$f")
  case "$n" in stdout|stderr|exit_code|*[!A-Za-z0-9._-]*) continue ;; esac
  set -- "$@" -F "$n=@$f"
done
i=0
until curl -fsS -m 120 -X POST -H @"$W/.auth" "$@" "$IVOA_CALLBACK_URL"; do
  i=$((i + 1)); [ "$i" -ge 8 ] && break; sleep $((i * 5))
done
rm -f "$W/.auth"
poweroff
"""

_CONTAINER = """  if [ -n "{runtime}" ]; then rt="{runtime}"
  elif command -v podman >/dev/null 2>&1; then rt=podman
  else rt=docker; fi
  "$rt" run --rm --network host -v "$W/out:/out" -v "$W/inputs:/inputs:ro" \\
    -e IVOA_BROKER_JOB_ID -e IVOA_BROKER_OUTPUT_DIR=/out -e IVOA_BROKER_INPUT_DIR=/inputs \\
    {env_flags} {image}{command}"""


def render_user_data(
    *,
    job_id: str,
    callback_url: str,
    secret: str,
    command: Sequence[str],
    image: str | None,
    env: Mapping[str, str],
    inputs: Sequence[str],
    container_runtime: str = "auto",
    watchdog: bool = False,
    time_limit: int | None = None,
) -> str:
    """The shell script for cloud-init. Every value is shell-quoted.

    ``container_runtime``: ``auto`` (podman if the image has it, else docker), or the
    runtime to use. ``watchdog``: run the task under a watchdog (``time_limit``
    seconds, 0 or ``None``: no limit) and report ``timed_out``.
    """
    q = shlex.quote
    env_lines = "\n".join(f"export {k}={q(v)}" for k, v in sorted(env.items())) or ":"
    fetch = []
    for i, url in enumerate(inputs):
        base = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or f"input-{i}"
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)
        fetch.append(f'  curl -fsSL -m 600 -o "$W/inputs/{safe}" {q(url)} || return 90')
    if image:
        env_flags = "".join(f" -e {q(k)}" for k in sorted(env))
        run = _CONTAINER.format(
            runtime="" if container_runtime == "auto" else container_runtime,
            env_flags=env_flags,
            image=q(image),
            command=(" " + shlex.join(command)) if command else "",
        )
    else:
        run = "  " + shlex.join(command)
    template = _HEAD + (_WATCHED if watchdog else _FOREGROUND) + _REPORT
    return template.format(
        job_id_comment=job_id.replace("\n", " "),
        job_id=q(job_id),
        callback_url=q(callback_url),
        secret=q(secret),
        env=env_lines,
        inputs="\n".join(fetch) or "  :",
        run=run,
        limit=max(int(time_limit or 0), 0),
    )
