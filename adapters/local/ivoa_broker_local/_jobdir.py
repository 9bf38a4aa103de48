"""The job directory: the on-disk record of one local job.

Layout of ``<work_dir>/<native_id>/`` (mode 0700)::

    job.json     what to run: argv, environment, limits (written by the adapter)
    runner.json  who runs it: the supervisor's pid, start ticks, boot id, start time
    stdout       the command's standard output
    stderr       the command's standard error
    runner.log   the supervisor's own output (normally empty)
    exit.json    how it ended (written atomically by the supervisor, last)
    out/         output files; ``$IVOA_BROKER_OUTPUT_DIR`` points here

The native id is the broker job id when that is a safe directory name, else
``_`` followed by 32 hex digits of its SHA-256 (a safe job id never starts
with ``_``, so the two cannot collide).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._procs import ProcIdentity
from ._runner import (
    EXIT_FILE,
    OUT_DIR,
    RUNNER_FILE,
    RUNNER_LOG,
    SPEC_FILE,
    STDERR_FILE,
    STDOUT_FILE,
)

__all__ = ["ExitRecord", "JobDir", "RunnerRecord", "is_native_id", "native_id_for", "tail"]

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_HASHED_ID = re.compile(r"_[0-9a-f]{32}")


def native_id_for(job_id: str) -> str:
    """The native id (directory name) of a broker job id."""
    if _SAFE_ID.fullmatch(job_id):
        return job_id
    return "_" + hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]


def is_native_id(value: str) -> bool:
    """True if ``value`` could have come from :func:`native_id_for` (path-safe)."""
    return bool(_SAFE_ID.fullmatch(value) or _HASHED_ID.fullmatch(value))


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class RunnerRecord:
    """``runner.json``: the supervisor process of a job."""

    pid: int
    start_ticks: int
    boot_id: str
    started_at: datetime

    @property
    def identity(self) -> ProcIdentity:
        return ProcIdentity(pid=self.pid, start_ticks=self.start_ticks, boot_id=self.boot_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "boot_id": self.boot_id,
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunnerRecord | None:
        try:
            started = _parse_time(data["started_at"])
            if started is None:
                return None
            return cls(
                pid=int(data["pid"]),
                start_ticks=int(data["start_ticks"]),
                boot_id=str(data["boot_id"]),
                started_at=started,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ExitRecord:
    """``exit.json``: how the job ended (see :mod:`ivoa_broker_local._runner`)."""

    returncode: int | None
    signal: int | None
    error: str | None
    started_at: datetime | None
    ended_at: datetime | None
    cpu_seconds: float | None
    max_rss_bytes: int | None
    term_requested: bool
    never_started: bool
    #: the file exists but does not hold what the supervisor writes
    unreadable: bool = False

    @classmethod
    def for_unreadable_file(cls) -> ExitRecord:
        """Stands for an ``exit.json`` that does not hold what the supervisor writes."""
        return cls(
            returncode=None,
            signal=None,
            error="the job's exit record is unreadable; its outcome is unknown",
            started_at=None,
            ended_at=None,
            cpu_seconds=None,
            max_rss_bytes=None,
            term_requested=False,
            never_started=False,
            unreadable=True,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitRecord:
        def opt_int(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        cpu = data.get("cpu_seconds")
        return cls(
            returncode=opt_int("returncode"),
            signal=opt_int("signal"),
            error=data.get("error") or None,
            started_at=_parse_time(data.get("started_at")),
            ended_at=_parse_time(data.get("ended_at")),
            cpu_seconds=float(cpu) if cpu is not None else None,
            max_rss_bytes=opt_int("max_rss_bytes"),
            term_requested=bool(data.get("term_requested", False)),
            never_started=bool(data.get("never_started", False)),
        )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class JobDir:
    """Paths and small reads of one job directory (all cheap, synchronous)."""

    def __init__(self, work_dir: Path, native_id: str) -> None:
        if not is_native_id(native_id):
            raise ValueError(f"not a local native id: {native_id!r}")
        self.native_id = native_id
        self.path = work_dir / native_id

    @property
    def spec_file(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def runner_file(self) -> Path:
        return self.path / RUNNER_FILE

    @property
    def exit_file(self) -> Path:
        return self.path / EXIT_FILE

    @property
    def stdout(self) -> Path:
        return self.path / STDOUT_FILE

    @property
    def stderr(self) -> Path:
        return self.path / STDERR_FILE

    @property
    def runner_log(self) -> Path:
        return self.path / RUNNER_LOG

    @property
    def out(self) -> Path:
        return self.path / OUT_DIR

    def exists(self) -> bool:
        return self.path.is_dir()

    def read_spec(self) -> dict[str, Any] | None:
        return _read_json(self.spec_file)

    def read_runner(self) -> RunnerRecord | None:
        data = _read_json(self.runner_file)
        return RunnerRecord.from_json(data) if data is not None else None

    def read_exit(self) -> ExitRecord | None:
        """How the job ended, or ``None`` while there is no (complete) record."""
        data = _read_json(self.exit_file)
        if data is None:
            return None
        try:
            return ExitRecord.from_json(data)
        except (TypeError, ValueError):
            return ExitRecord.for_unreadable_file()

    def job_id(self) -> str:
        spec = self.read_spec()
        job_id = spec.get("job_id") if spec else None
        return job_id if isinstance(job_id, str) else self.native_id


def tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes of a text file, decoded leniently ("" if missing)."""
    if limit <= 0:
        return ""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            data = f.read(limit)
            cut = size > limit
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if cut:  # drop the partial first line
        newline = text.find("\n")
        text = "…" + (text[newline + 1 :] if 0 <= newline < len(text) - 1 else text)
    return text
