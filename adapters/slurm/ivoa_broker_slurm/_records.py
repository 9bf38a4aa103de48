"""What Slurm says about one job, parsed from ``squeue --json``/slurmrestd (the controller's
view of live and recently ended jobs) or from ``sacct`` (accounting, after they left)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivoa_broker.protocol import FatalError, Usage

from ._states import base_state

#: fields asked of ``sacct --parsable2`` (SLURM_TIME_FORMAT=%s makes times epoch seconds)
SACCT_FIELDS = ("JobIDRaw", "JobName", "State", "ExitCode", "Start", "End", "ElapsedRaw")
#: extra fields only slurmdbd has (the job completion log has no usage)
SACCT_USAGE_FIELDS = ("TotalCPU", "MaxRSS")


@dataclass(frozen=True)
class JobInfo:
    native_id: str
    name: str
    state: str
    source: str
    reason: str | None = None
    comment: str = ""
    exit_code: int | None = None
    signal: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: Usage | None = None


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, Mapping):  # v0.0.39+: {"set": true, "number": 1700000000}
        value = value.get("number") if value.get("set", True) else None
    if isinstance(value, str):
        value = int(value) if value.isdigit() else None
    if not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


def _wait_status(raw: Any) -> tuple[int | None, int | None]:
    """slurmctld's ``exit_code`` is the raw wait(2) status: exit << 8 | signal."""
    if isinstance(raw, Mapping):
        raw = raw.get("number")
    if not isinstance(raw, int) or raw < 0:
        return None, None
    return (raw >> 8) & 0xFF, raw & 0x7F


def from_controller(job: Mapping[str, Any], source: str) -> JobInfo:
    """One element of ``jobs`` in ``squeue --json`` or ``GET /slurm/v0.0.3x/jobs``."""
    try:
        native = str(job["job_id"])
        state = job["job_state"]
    except KeyError as exc:
        raise FatalError("Slurm answered a job without id or state", detail=str(exc)) from exc
    if isinstance(state, list):  # v0.0.39+: a list of flags, the base state first
        state = state[0] if state else "UNKNOWN"
    exit_code, signal = _wait_status(job.get("exit_code"))
    reason = job.get("state_reason")
    return JobInfo(
        native_id=native,
        name=str(job.get("name") or ""),
        state=base_state(str(state)),
        source=source,
        reason=str(reason) if reason and reason != "None" else None,
        comment=str(job.get("comment") or ""),
        exit_code=exit_code,
        signal=signal,
        started_at=_epoch(job.get("start_time")),
        ended_at=_epoch(job.get("end_time")),
    )


def controller_jobs(doc: Any, source: str) -> dict[str, JobInfo]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("jobs"), list):
        raise FatalError(f"{source} answered something that is not a job list")
    found = {}
    for job in doc["jobs"]:
        if isinstance(job, Mapping):
            info = from_controller(job, source)
            found[info.native_id] = info
    return found


_CPU_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$")


def cpu_seconds(text: str) -> float | None:
    """``[DD-][HH:]MM:SS[.mmm]`` -> seconds."""
    match = _CPU_TIME.match(text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes)) * 60 + float(seconds)


def size_bytes(text: str) -> int | None:
    """``1234K`` -> bytes (sacct's MaxRSS)."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    number, unit = match.groups()
    return int(float(number) * 1024 ** "_KMGTP".index(unit or "_"))


def _exit(text: str) -> tuple[int | None, int | None]:
    code, _, sig = text.partition(":")
    if not code.isdigit():
        return None, None
    return int(code), int(sig) if sig.isdigit() else None


def accounting_jobs(text: str, fields: Iterable[str], source: str) -> dict[str, JobInfo]:
    """``sacct --parsable2 --noheader`` lines: the job line, then its steps (``ID.batch``)."""
    names = tuple(fields)
    rows: dict[str, dict[str, str]] = {}
    steps: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|")
        if len(values) < len(names):
            raise FatalError(f"{source} answered a line that does not parse", detail=line[:200])
        row = dict(zip(names, values, strict=False))
        job, _, step = row["JobIDRaw"].partition(".")
        if step:
            steps.setdefault(job, []).append(row)
        else:
            rows[job] = row
    found = {}
    for native, row in rows.items():
        exit_code, signal = _exit(row.get("ExitCode", ""))
        usage = None
        if "TotalCPU" in row:
            rss = [size_bytes(s.get("MaxRSS", "")) for s in steps.get(native, [])]
            known = [r for r in rss if r is not None]
            elapsed = row.get("ElapsedRaw", "")
            usage = Usage(
                cpu_seconds=cpu_seconds(row["TotalCPU"]),
                elapsed_seconds=float(elapsed) if elapsed.isdigit() else None,
                max_rss_bytes=max(known) if known else None,
            )
        found[native] = JobInfo(
            native_id=native,
            name=row.get("JobName", ""),
            state=base_state(row.get("State", "UNKNOWN") or "UNKNOWN"),
            source=source,
            exit_code=exit_code,
            signal=signal,
            started_at=_epoch(row.get("Start")),
            ended_at=_epoch(row.get("End")),
            usage=usage,
        )
    return found
