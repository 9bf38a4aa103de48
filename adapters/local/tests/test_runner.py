"""The supervisor on its own: ``python -m ivoa_broker_local._runner JOB_DIR``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from ivoa_broker_local._runner import write_json_atomic


async def _supervise(job_dir: Path, argv: list[str], **limits: object) -> dict[str, object]:
    (job_dir / "out").mkdir(parents=True)
    spec = {"job_id": "r-1", "argv": argv, "env": {"PATH": os.defpath}, **limits}
    write_json_atomic(job_dir / "job.json", spec)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivoa_broker_local._runner", str(job_dir)
    )
    assert await proc.wait() == 0
    record = json.loads((job_dir / "exit.json").read_text())
    assert isinstance(record, dict)
    return record


async def test_runner_records_exit_code_times_and_output(tmp_path: Path) -> None:
    job = tmp_path / "job"
    record = await _supervise(job, ["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert record["returncode"] == 4
    assert record["signal"] is None
    assert record["error"] is None
    assert record["term_requested"] is False
    assert str(record["started_at"]) <= str(record["ended_at"])
    assert isinstance(record["cpu_seconds"], float)
    assert (job / "stdout").read_text() == "out\n"
    assert (job / "stderr").read_text() == "err\n"
    # written atomically: no temporary file is left next to it
    assert sorted(p.name for p in job.iterdir()) == [
        "exit.json",
        "job.json",
        "out",
        "stderr",
        "stdout",
    ]


async def test_runner_applies_rlimits_to_the_command(tmp_path: Path) -> None:
    record = await _supervise(
        tmp_path / "job",
        ["sh", "-c", "ulimit -v; ulimit -t; ulimit -c"],
        memory_bytes=512 * 1024 * 1024,
        cpu_seconds=7,
        cpu_hard_seconds=9,
    )
    assert record["returncode"] == 0
    # ulimit -v is in KiB; -t in seconds (soft limit); -c core size
    assert (tmp_path / "job" / "stdout").read_text().split() == ["524288", "7", "0"]


async def test_runner_reports_a_command_it_cannot_execute(tmp_path: Path) -> None:
    record = await _supervise(tmp_path / "job", ["/nonexistent/program"])
    assert record["returncode"] == 127
    assert "could not start" in str(record["error"])
