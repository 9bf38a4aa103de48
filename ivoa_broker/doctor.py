"""``ivoa-broker doctor``: what in the job store needs an operator's look.

It reports **PENDING jobs that have waited longer than ``--pending-age``** (default one
hour). The likely cause is a creation whose client never got its 303: the broker was
killed (SIGKILL, OOM) after storing the job and before answering, so nobody knows the
job's URL. UWS allows a job to stay PENDING on purpose, and the broker cannot tell the
two apart, so it does not delete them: like every job they go at their destruction
time (``jobs.default_destruction``, 7 days by default), and the owner sees them in
``GET /jobs?PHASE=PENDING``. ``doctor`` lists them (id, owner, creation, destruction) so
an operator can delete them earlier. Read-only; safe while the broker serves.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivoa_broker.units import db_instant

DEFAULT_PENDING_AGE = 3600


class DoctorError(Exception):
    """The store cannot be read."""


@dataclass(frozen=True)
class StalePending:
    job_id: str
    owner: str | None
    created: str
    destruction: str | None


def stale_pending(
    database: Path, age_seconds: float, now: datetime | None = None
) -> list[StalePending]:
    """PENDING jobs created more than ``age_seconds`` before ``now``, oldest first."""
    if not database.exists():
        raise DoctorError(f"no job store at {database}")
    cutoff = db_instant((now or datetime.now(UTC)) - timedelta(seconds=age_seconds))
    try:
        con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT job_id, owner, creation_time, destruction FROM jobs "
                "WHERE phase = 'PENDING' AND creation_time < ? ORDER BY creation_time",
                (cutoff,),
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise DoctorError(f"cannot read {database}: {exc}") from exc
    return [StalePending(str(r[0]), r[1], str(r[2]), r[3]) for r in rows]


def report(database: Path, age_seconds: float) -> tuple[int, list[str]]:
    """Exit code (0 nothing found, 1 something to look at) and the lines to print."""
    found = stale_pending(database, age_seconds)
    lines = [f"store {database}:"]
    if not found:
        lines.append(f"  no PENDING job older than {age_seconds:g} s")
        return 0, lines
    lines.append(
        f"  {len(found)} PENDING job(s) older than {age_seconds:g} s (creations that may "
        "never have been answered; removed at their destruction time):"
    )
    for job in found:
        lines.append(
            f"  {job.job_id}  owner={job.owner or '-'}  created={job.created}"
            f"  destruction={job.destruction or '-'}"
        )
    return 1, lines
