"""The cloud-init user data, run for real by /bin/sh with curl and poweroff shims: what
it reports with and without the watchdog (the OpenStack adapter's tests cover the rest)."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
from pathlib import Path

from ivoa_broker.toolkit.cloudinit import MAX_USER_DATA_BYTES, render_user_data


def reported(tmp_path: Path, command: tuple[str, ...], **kw: object) -> dict[str, str]:
    """The plain fields (not files) the script POSTs, after it powered off."""
    script = render_user_data(
        job_id="j1",
        callback_url="http://b/callbacks/x/j1",
        secret="s",
        command=command,
        image=None,
        env={},
        inputs=(),
        **kw,  # type: ignore[arg-type]
    )
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "curl").write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$CAP/args"\n')
    (shims / "poweroff").write_text('#!/bin/sh\n: > "$CAP/off"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    (tmp_path / "tmp").mkdir()
    env = {"PATH": f"{shims}:/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp"), "CAP": str(tmp_path)}
    proc = subprocess.Popen(["/bin/sh", "-c", script], env=env, start_new_session=True)
    try:
        assert proc.wait(60) == 0
    finally:  # the watchdog's sleeps outlive the script: end its whole process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (tmp_path / "off").exists()
    args = (tmp_path / "args").read_bytes().decode().split("\0")[:-1]
    fields = {}
    for flag, value in itertools.pairwise(args):
        name, _, text = value.partition("=")
        if flag == "-F" and not text.startswith("@"):
            fields[name] = text
    return fields


def test_without_watchdog_only_the_exit_code_is_reported(tmp_path: Path) -> None:
    assert reported(tmp_path, ("sh", "-c", "exit 2")) == {"exit_code": "2"}


def test_watchdog_without_limit_reports_not_timed_out(tmp_path: Path) -> None:
    fields = reported(tmp_path, ("sh", "-c", "exit 2"), watchdog=True, time_limit=0)
    assert fields == {"exit_code": "2", "timed_out": "0"}


def test_watchdog_stops_the_task_at_its_limit(tmp_path: Path) -> None:
    fields = reported(tmp_path, ("sleep", "30"), watchdog=True, time_limit=1)
    assert fields["timed_out"] == "1"
    assert fields["exit_code"] != "0"


def test_script_fits_nova_user_data() -> None:
    script = render_user_data(
        job_id="j",
        callback_url="http://b/x",
        secret="s",
        command=("echo", "hi"),
        image="docker.io/library/python:3.12",
        env={"K": "v"},
        inputs=("http://d/in.fits",),
        watchdog=True,
        time_limit=60,
    )
    assert script.startswith("#!/bin/sh\n")
    assert len(script.encode()) < MAX_USER_DATA_BYTES
