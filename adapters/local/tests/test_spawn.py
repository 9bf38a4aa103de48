"""The spawner forks supervisors that are what the exec'd supervisor was, and outlive it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from ivoa_broker_local._jobdir import JobDir
from ivoa_broker_local._procs import identify, read_stat
from ivoa_broker_local._runner import write_json_atomic
from ivoa_broker_local._spawn import Spawner, launch

from .conftest import process_ended


def _spec(job_id: str, argv: list[str]) -> dict[str, object]:
    return {"job_id": job_id, "argv": argv, "env": {"PATH": os.defpath}}


async def test_a_forked_supervisor_leads_its_session_and_runs_the_job(tmp_path: Path) -> None:
    jobdir = JobDir(tmp_path, "fork-1")
    record = launch(jobdir, _spec("fork-1", ["sh", "-c", "echo forked"]), sys.executable)
    stat = read_stat(record.pid)
    if stat is not None:  # it may be done already
        assert stat.session == record.pid  # leader of a new session
        assert stat.ppid != os.getpid()  # forked by the spawner, not by us
    await process_ended(record.pid)
    assert jobdir.stdout.read_text() == "forked\n"
    exit_record = json.loads(jobdir.exit_file.read_text())
    assert exit_record["returncode"] == 0
    runner = json.loads(jobdir.runner_file.read_text())
    assert (runner["pid"], runner["start_ticks"]) == (record.pid, record.start_ticks)


async def test_supervisors_outlive_their_spawner(tmp_path: Path) -> None:
    spawner = Spawner(sys.executable)
    jobdir = JobDir(tmp_path, "outlive")
    jobdir.path.mkdir()
    write_json_atomic(jobdir.spec_file, _spec("outlive", ["sleep", "1000"]))
    pid, ticks = spawner.spawn(jobdir.path)
    spawner.close()  # like a broker that died: end of file on the spawner's socket
    ident = identify(pid)
    assert ident is not None and ident.start_ticks == ticks
    os.kill(pid, 15)  # the supervisor stops its job and writes exit.json
    await process_ended(pid)
    assert json.loads(jobdir.exit_file.read_text())["term_requested"] is True


def test_a_spawner_refuses_a_directory_without_a_spec(tmp_path: Path) -> None:
    spawner = Spawner(sys.executable)
    try:
        with pytest.raises(OSError, match=r"no job\.json"):
            spawner.spawn(tmp_path)
    finally:
        spawner.close()
