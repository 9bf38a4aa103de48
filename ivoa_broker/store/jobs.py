"""The job aggregate in SQL: jobs, their results, deadlines (one code path for both engines).

Instants are stored as fixed-width UTC text, which sorts in time order, so
LAST/AFTER/PHASE filters and deadlines are plain indexed SQL on either engine.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Unpack

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter
from ivoa_broker.store.batch import GatheredReads
from ivoa_broker.store.cache import JobCache, SummaryRows
from ivoa_broker.store.db import Database, Row, Tx
from ivoa_broker.store.rows import JobEnd, JobFields, LiveJob, StoredResult
from ivoa_broker.units import db_instant, from_db_instant

_JOB_COLUMNS = (
    "job_id, owner, run_id, phase, creation_time, start_time, end_time, quote, "
    "execution_duration, destruction, parameters, error_type, error_message, error_detail, "
    "platform, job_info, abort_reason, released"
)
_LIVE_COLUMNS = "job_id, owner, phase, platform, handle, cancel_requested"

INSERT_JOB = (
    "INSERT INTO jobs (job_id, owner, run_id, phase, creation_time, quote, "
    "execution_duration, destruction, parameters, platform, job_info) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def opt_instant(value: datetime | None) -> str | None:
    return db_instant(value) if value is not None else None


def read_instant(value: str | None) -> datetime | None:
    return from_db_instant(value) if value is not None else None


def owner_is(owner: str | None, args: list[Any], column: str = "owner") -> str:
    """An indexable owner filter (``IS ?`` is SQLite only and not indexed on PostgreSQL)."""
    if owner is None:
        return f"{column} IS NULL"
    args.append(owner)
    return f"{column} = ?"


def marks(n: int) -> str:
    return ", ".join("?" * n)


class JobQueries:
    """Jobs and results over a :class:`~ivoa_broker.store.db.Database`, with the
    record cache in front of :meth:`get`."""

    db: Database
    cache: JobCache
    summaries: SummaryRows
    job_reads: GatheredReads[str, Job]  # made with the store, over :meth:`_read_jobs`

    @asynccontextmanager
    async def _changing(self, *job_ids: str) -> AsyncIterator[None]:
        """Keep the record cache coherent around a write to these jobs."""
        for job_id in job_ids:
            self.cache.drop(job_id)
        try:
            yield
        finally:
            for job_id in job_ids:
                self.cache.drop(job_id)

    async def insert(self, job: Job) -> None:
        """Store a new job (its id must be new)."""
        async with self._changing(job.job_id):
            await self.db.execute(INSERT_JOB, job_values(job))

    async def get(self, job_id: str) -> Job | None:
        """The job record, from the cache when it holds it; ``None`` if none.

        Misses go to the database gathered: the jobs asked for while a read is in
        flight are read together in the next (:class:`GatheredReads`).
        """
        found = self.cache.get(job_id)
        if found is not None:
            return found
        return await self.job_reads.get(job_id)

    async def _read_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """Read these jobs in one query and cache them (the cache token is taken
        here, before the read: see :meth:`JobCache.put`)."""
        writes = self.cache.writes
        sql = (
            f"SELECT {_JOB_COLUMNS}, {self.db.dialect.results_json} AS results "
            f"FROM jobs WHERE job_id IN ({marks(len(job_ids))})"
        )
        jobs: dict[str, Job] = {}
        for row in await self.db.rows(sql, tuple(job_ids)):
            job = job_from_row(row)
            self.cache.put(job, writes)
            jobs[job.job_id] = job
        return jobs

    def cached(self, job_id: str) -> Job | None:
        """The job record if the cache holds it (no I/O, so no timing in the store's
        metrics: it is not a store operation); ``None`` otherwise."""
        return self.cache.get(job_id)

    async def owner_of(self, job_id: str) -> tuple[bool, str | None]:
        """(exists, owner) without loading the job."""
        row = await self.db.row("SELECT owner FROM jobs WHERE job_id = ?", (job_id,))
        return (False, None) if row is None else (True, row[0])

    async def list_jobs(
        self,
        owner: str | None,
        *,
        phases: Collection[Phase] | None,
        after: datetime | None,
        last: int | None,
        limit: int,
    ) -> list[JobSummary]:
        """Job list for one owner, newest first; ARCHIVED only when asked for."""
        args: list[Any] = []
        where = [owner_is(owner, args)]
        if phases:
            where.append(f"phase IN ({marks(len(phases))})")
            args.extend(p.value for p in phases)
        else:
            where.append("phase != 'ARCHIVED'")
        if after is not None:
            where.append("creation_time > ?")
            args.append(db_instant(after))
        args.append(min(last, limit) if last is not None else limit)
        sql = (
            "SELECT job_id, phase, creation_time, run_id, owner FROM jobs "
            f"WHERE {' AND '.join(where)} ORDER BY creation_time DESC, job_id DESC LIMIT ?"
        )
        return self.summaries.of(await self.db.rows(sql, args))

    async def count(self) -> int:
        row = await self.db.row("SELECT count(*) FROM jobs")
        return int(row[0]) if row else 0

    async def count_by_phase(self) -> dict[tuple[str, str], int]:
        """Jobs by (phase, platform) for the metrics gauge (platform '' before submit)."""
        rows = await self.db.rows(
            "SELECT phase, COALESCE(platform, '') AS platform, COUNT(*) AS n "
            "FROM jobs GROUP BY phase, COALESCE(platform, '')"
        )
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    async def update(self, job_id: str, **fields: Unpack[JobFields]) -> bool:
        """Set the given columns. True if the job exists."""
        sets, args = assignments(fields)
        args.append(job_id)
        async with self._changing(job_id):
            return await self.db.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", args) == 1

    async def move(
        self,
        job_id: str,
        from_phases: Collection[Phase],
        to: Phase,
        **fields: Unpack[JobFields],
    ) -> bool:
        """Compare-and-set phase change (and the given columns); False if the job
        was not in ``from_phases``."""
        async with self._changing(job_id):
            return await _move(self.db, job_id, from_phases, to, fields)

    async def record_ends(self, ends: Sequence[JobEnd]) -> list[bool]:
        """Tasks' ends (a poll pass's), in one transaction: each end's results, then
        its compare-and-set move; per end, whether it moved. Results come first, so a
        waiter woken by the phase change already sees them."""
        if not ends:
            return []
        ids = [e.job_id for e in ends]
        moved: dict[int, bool] = {}
        async with self._changing(*ids), self.db.transaction() as tx:
            # one order for every writer: replicas ending the same jobs cannot deadlock
            for i in sorted(range(len(ends)), key=lambda i: ids[i]):
                end = ends[i]
                if end.results:
                    await _add_results(tx, end.job_id, end.results)
                moved[i] = bool(end.from_phases) and await _move(
                    tx, end.job_id, end.from_phases, end.to, end.fields
                )
        return [moved[i] for i in range(len(ends))]

    async def delete(self, job_id: str) -> bool:
        """Forget a job and its results. True if it existed."""
        async with self._changing(job_id), self.db.transaction() as tx:
            await tx.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            return await tx.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)) == 1

    async def live_jobs(self, phases: Collection[Phase]) -> list[LiveJob]:
        """Jobs in ``phases``, oldest first (what a starting dispatcher re-attaches)."""
        sql = (
            f"SELECT {_LIVE_COLUMNS} FROM jobs "
            f"WHERE phase IN ({marks(len(phases))}) ORDER BY creation_time"
        )
        return [_live(r) for r in await self.db.rows(sql, [p.value for p in phases])]

    async def unreleased_aborts(self) -> list[LiveJob]:
        """Aborted jobs whose platform has not yet confirmed the end of the task
        (the EB view shows them RELEASING); a restarted dispatcher watches them again."""
        sql = (
            f"SELECT {_LIVE_COLUMNS} FROM jobs "
            "WHERE phase = 'ABORTED' AND abort_reason IS NOT NULL AND released IS NULL "
            "AND cancel_requested = 1 AND handle IS NOT NULL ORDER BY creation_time"
        )
        return [_live(r) for r in await self.db.rows(sql)]

    async def handle_of(self, job_id: str) -> tuple[str | None, str | None]:
        """(platform, handle JSON) of a job."""
        row = await self.db.row("SELECT platform, handle FROM jobs WHERE job_id = ?", (job_id,))
        return (None, None) if row is None else (row[0], row[1])

    async def intent_of(self, job_id: str) -> str | None:
        """The launch intent of a job (the offer JSON its submit went to), if any."""
        row = await self.db.row("SELECT launch_intent FROM jobs WHERE job_id = ?", (job_id,))
        return None if row is None else row[0]

    async def job_ids(self, job_ids: Iterable[str]) -> set[str]:
        """Which of ``job_ids`` may own a platform task (the orphan sweep keeps
        those): not archived, and with a Handle or still QUEUED (a submit may be
        on its way). A job that ended without a Handle (aborted while a broker
        that then died was submitting) owns nothing: its task is an orphan."""
        ids = list(job_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = (
                f"SELECT job_id FROM jobs WHERE job_id IN ({marks(len(chunk))}) "
                "AND phase != 'ARCHIVED' AND (handle IS NOT NULL OR phase = 'QUEUED')"
            )
            found.update(r[0] for r in await self.db.rows(sql, chunk))
        return found

    # ---------------------------------------------- identity: limits and admins (auth/)

    async def count_active_jobs(self, owner: str | None) -> int:
        """An owner's jobs that have not ended (per-owner limits, ivoa_broker.auth.limits)."""
        args: list[Any] = []
        where = owner_is(owner, args)
        row = await self.db.row(
            f"SELECT count(*) FROM jobs WHERE {where} AND phase IN "
            "('PENDING', 'QUEUED', 'EXECUTING', 'HELD', 'SUSPENDED')",
            args,
        )
        return int(row[0]) if row else 0

    async def list_every_job(
        self, *, phases: Collection[Phase] | None, after: datetime | None, limit: int
    ) -> list[JobSummary]:
        """Every owner's jobs, newest first (the admins' job list)."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if phases:
            where.append(f"phase IN ({marks(len(phases))})")
            args.extend(p.value for p in phases)
        else:
            where.append("phase != 'ARCHIVED'")
        if after is not None:
            where.append("creation_time > ?")
            args.append(db_instant(after))
        rows = await self.db.rows(
            "SELECT job_id, phase, creation_time, run_id, owner FROM jobs "
            f"WHERE {' AND '.join(where)} ORDER BY creation_time DESC, job_id DESC LIMIT ?",
            [*args, limit],
        )
        return self.summaries.of(rows)

    # -------------------------------------------------------------- deadlines

    async def next_deadline(self) -> datetime | None:
        """The earliest run deadline, destruction time or offer expiry still to enforce."""
        sql = (
            "SELECT min(t) FROM ("
            "SELECT min(run_deadline) AS t FROM jobs WHERE run_deadline IS NOT NULL "
            "UNION ALL SELECT min(destruction) FROM jobs "
            "WHERE destruction IS NOT NULL AND phase != 'ARCHIVED' "
            "UNION ALL SELECT min(expires) FROM offers WHERE phase = 'OFFERED') AS deadlines"
        )
        row = await self.db.row(sql)
        return read_instant(row[0]) if row else None

    async def overrun(self, now: datetime) -> list[str]:
        """Jobs whose run deadline has passed."""
        sql = "SELECT job_id FROM jobs WHERE run_deadline IS NOT NULL AND run_deadline <= ?"
        return [r[0] for r in await self.db.rows(sql, (db_instant(now),))]

    async def expired(self, now: datetime) -> list[str]:
        """Jobs whose destruction time has passed (not yet archived)."""
        sql = (
            "SELECT job_id FROM jobs WHERE destruction IS NOT NULL AND destruction <= ? "
            "AND phase != 'ARCHIVED'"
        )
        return [r[0] for r in await self.db.rows(sql, (db_instant(now),))]

    # ---------------------------------------------------------------- results

    async def add_results(self, job_id: str, results: Sequence[StoredResult]) -> None:
        """Record results (a result id seen again is updated, not duplicated)."""
        async with self._changing(job_id), self.db.transaction() as tx:
            await _add_results(tx, job_id, results)

    async def get_result(self, job_id: str, result_id: str) -> StoredResult | None:
        row = await self.db.row(
            "SELECT result_id, mime_type, size, href, path FROM results "
            "WHERE job_id = ? AND result_id = ?",
            (job_id, result_id),
        )
        if row is None:
            return None
        return StoredResult(JobResult(row[0], row[1], row[2], row[3]), row[4])

    async def drop_results(self, job_id: str) -> None:
        async with self._changing(job_id):
            await self.db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))


async def _move(
    db: Database | Tx,
    job_id: str,
    from_phases: Collection[Phase],
    to: Phase,
    fields: JobFields,
) -> bool:
    """The compare-and-set phase change of :meth:`JobQueries.move`, alone or in a transaction."""
    sets, args = assignments(fields)
    sets = f"phase = ?, {sets}" if sets else "phase = ?"
    args.insert(0, to.value)
    args.append(job_id)
    args.extend(p.value for p in from_phases)
    sql = f"UPDATE jobs SET {sets} WHERE job_id = ? AND phase IN ({marks(len(from_phases))})"
    return await db.execute(sql, args) == 1


async def _add_results(tx: Tx, job_id: str, results: Sequence[StoredResult]) -> None:
    """Insert (or update, by result id) results inside a transaction, in one round
    trip: each new row's ``seq`` is one past the job's last (the rows go in in
    order, so the list keeps the order given)."""
    await tx.executemany(
        "INSERT INTO results (job_id, seq, result_id, mime_type, size, href, path) "
        "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ? FROM results WHERE job_id = ? "
        "ON CONFLICT (job_id, result_id) DO UPDATE SET "
        "mime_type = excluded.mime_type, size = excluded.size, "
        "href = excluded.href, path = excluded.path",
        [
            (job_id, item.result.id, item.result.mime_type, item.result.size,
             item.result.href, item.path, job_id)
            for item in results
        ],
    )


def _live(r: Row) -> LiveJob:
    return LiveJob(r[0], r[1], Phase(r[2]), r[3], r[4], bool(r[5]))


def job_values(job: Job) -> tuple[Any, ...]:
    return (
        job.job_id,
        job.owner,
        job.run_id,
        job.phase.value,
        db_instant(job.creation_time),
        opt_instant(job.quote),
        job.execution_duration,
        opt_instant(job.destruction),
        params_json(job.parameters),
        job.platform,
        json.dumps(dict(job.job_info)),
    )


def params_json(params: Sequence[Parameter]) -> str:
    return json.dumps([[p.name, p.value, p.by_reference] for p in params])


def _instant_column(value: Any) -> Any:
    return opt_instant(value)


def _plain(value: Any) -> Any:
    return value


#: every column a write may set, with how its value is stored: the SQL names come
#: from this table only, never from the caller
_CONVERT: Mapping[str, Any] = {
    "run_id": _plain,
    "start_time": _instant_column,
    "end_time": _instant_column,
    "quote": _instant_column,
    "execution_duration": int,
    "destruction": _instant_column,
    "parameters": params_json,
    "platform": _plain,
    "handle": _plain,
    "job_info": lambda v: json.dumps(dict(v)),
    "run_deadline": _instant_column,
    "cancel_requested": lambda v: int(bool(v)),
    "abort_reason": _plain,
    "released": _instant_column,
    "launch_intent": _plain,
}


def assignments(fields: JobFields) -> tuple[str, list[Any]]:
    """``col = ?`` pairs and their values for the typed fields of a write."""
    parts: list[str] = []
    args: list[Any] = []
    for name, value in fields.items():
        if name == "error":
            err: JobError | None = value  # type: ignore[assignment]
            parts += ["error_type = ?", "error_message = ?", "error_detail = ?"]
            args += [err.type, err.message, err.detail] if err else [None, None, None]
            continue
        convert = _CONVERT.get(name)
        if convert is None:
            raise TypeError(f"not a job column: {name!r}")
        parts.append(f"{name} = ?")
        args.append(convert(value))
    return ", ".join(parts), args


def job_from_row(row: Row) -> Job:
    error = JobError(type=row[11], message=row[12], detail=row[13]) if row[11] else None
    return Job(
        job_id=row[0],
        owner=row[1],
        run_id=row[2],
        phase=Phase(row[3]),
        creation_time=from_db_instant(row[4]),
        start_time=read_instant(row[5]),
        end_time=read_instant(row[6]),
        quote=read_instant(row[7]),
        execution_duration=row[8],
        destruction=read_instant(row[9]),
        parameters=tuple(Parameter(n, v, bool(b)) for n, v, b in json.loads(row[10])),
        error=error,
        platform=row[14],
        job_info=json.loads(row[15]),
        abort_reason=row[16],
        released=read_instant(row[17]),
        results=tuple(
            JobResult(id=i, mime_type=m, size=s, href=h)
            for i, m, s, h in json.loads(row[18] or "[]")
        ),
    )
