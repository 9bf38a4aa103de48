"""Persistence of jobs and their results in SQLite (aiosqlite, WAL).

One writer connection (writes serialised by a lock, multi-statement changes in
one transaction) and one reader connection, so reads never wait behind a write
transaction. Instants are stored as fixed-width UTC text, which sorts in time
order, so LAST/AFTER/PHASE filters and deadlines are plain indexed SQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter
from ivoa_broker.units import db_instant, from_db_instant

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    owner TEXT,
    run_id TEXT,
    phase TEXT NOT NULL,
    creation_time TEXT NOT NULL,
    start_time TEXT,
    end_time TEXT,
    quote TEXT,
    execution_duration INTEGER NOT NULL DEFAULT 0,
    destruction TEXT,
    parameters TEXT NOT NULL DEFAULT '[]',
    error_type TEXT,
    error_message TEXT,
    error_detail TEXT,
    platform TEXT,
    handle TEXT,
    job_info TEXT NOT NULL DEFAULT '{}',
    run_deadline TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, creation_time);
CREATE INDEX IF NOT EXISTS jobs_owner_phase_created ON jobs (owner, phase, creation_time);
CREATE INDEX IF NOT EXISTS jobs_phase ON jobs (phase);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (creation_time);
CREATE INDEX IF NOT EXISTS jobs_run_deadline ON jobs (run_deadline) WHERE run_deadline IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_destruction ON jobs (destruction) WHERE destruction IS NOT NULL;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    result_id TEXT NOT NULL,
    mime_type TEXT,
    size INTEGER,
    href TEXT,
    path TEXT,
    PRIMARY KEY (job_id, result_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offersets (
    offerset_id TEXT PRIMARY KEY,
    owner TEXT,
    created TEXT NOT NULL,
    request TEXT NOT NULL,
    messages TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS offersets_owner_created ON offersets (owner, created);
CREATE TABLE IF NOT EXISTS offers (
    offer_id TEXT PRIMARY KEY,
    offerset_id TEXT NOT NULL REFERENCES offersets (offerset_id) ON DELETE CASCADE,
    owner TEXT,
    seq INTEGER NOT NULL,
    created TEXT NOT NULL,
    phase TEXT NOT NULL,
    expires TEXT NOT NULL,
    offer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS offers_set ON offers (offerset_id, seq);
CREATE INDEX IF NOT EXISTS offers_owner_created ON offers (owner, created);
CREATE INDEX IF NOT EXISTS offers_expiry ON offers (expires) WHERE phase = 'OFFERED';
"""

_JOB_COLUMNS = (
    "job_id, owner, run_id, phase, creation_time, start_time, end_time, quote, "
    "execution_duration, destruction, parameters, error_type, error_message, error_detail, "
    "platform, job_info"
)
_RESULTS_JSON = (
    "(SELECT json_group_array(json_array(result_id, mime_type, size, href)) FROM "
    "(SELECT result_id, mime_type, size, href FROM results r WHERE r.job_id = jobs.job_id "
    "ORDER BY seq))"
)


@dataclass(frozen=True)
class StoredResult:
    """A result row: what the job document shows plus where the bytes are."""

    result: JobResult
    path: str | None = None


@dataclass(frozen=True)
class LiveJob:
    """What the dispatcher needs to resume a job after a restart."""

    job_id: str
    owner: str | None
    phase: Phase
    platform: str | None
    handle: str | None
    cancel_requested: bool


@dataclass(frozen=True)
class OfferSetRow:
    """A stored offer set: the request document as received (JSON data) and the
    messages of the fan-out (platforms that refused, failed or timed out)."""

    offerset_id: str
    owner: str | None
    created: datetime
    request: Mapping[str, Any]
    messages: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True)
class OfferRow:
    """A stored offer (a session in an offer phase until it is accepted).

    ``phase`` is OFFERED, ACCEPTED, REJECTED or EXPIRED; ``offer`` is the
    adapter's :class:`~ivoa_broker.protocol.Offer` as JSON. An accepted offer's
    job has the same id.
    """

    offer_id: str
    offerset_id: str
    owner: str | None
    seq: int
    created: datetime
    phase: str
    expires: datetime
    offer: Mapping[str, Any]


@dataclass(frozen=True)
class SessionRef:
    """One entry of a session listing: an offer row or a job, by id."""

    session_id: str
    created: datetime
    is_job: bool


class StoreError(Exception):
    """The store cannot be used (file unwritable, disk full, corrupt)."""


def _opt_instant(value: datetime | None) -> str | None:
    return db_instant(value) if value is not None else None


def _read_instant(value: str | None) -> datetime | None:
    return from_db_instant(value) if value is not None else None


class JobCache:
    """A bounded LRU of job records, coherent because every write to a job goes
    through :class:`JobStore`: each write drops the job's entry before and after
    it runs, and a read is cached only if no write at all happened meanwhile."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.writes = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs.move_to_end(job_id)
        return job

    def put(self, job: Job, writes_before_read: int) -> None:
        if self.size <= 0 or self.writes != writes_before_read:
            return
        self._jobs[job.job_id] = job
        self._jobs.move_to_end(job.job_id)
        if len(self._jobs) > self.size:
            self._jobs.popitem(last=False)

    def drop(self, job_id: str) -> None:
        self.writes += 1
        self._jobs.pop(job_id, None)

    def __len__(self) -> int:
        return len(self._jobs)


class JobStore:
    """Async access to the job database. Create with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        cache_size: int = 2048,
    ):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.cache = JobCache(cache_size)

    @classmethod
    async def open(cls, path: Path, cache_size: int = 2048) -> JobStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await aiosqlite.connect(path, isolation_level=None)
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=5000")
            await writer.executescript(_SCHEMA)
            await writer.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open job store {path}: {exc}") from exc
        reader.row_factory = sqlite3.Row
        writer.row_factory = sqlite3.Row
        return cls(path, writer, reader, cache_size)

    async def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """One read in one hop to the database thread (execute + fetch + close)."""
        return list(await self._reader.execute_fetchall(sql, args))

    async def _row(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, args)
        return rows[0] if rows else None

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def count_by_phase(self) -> dict[tuple[str, str], int]:
        """Jobs by (phase, platform) for the metrics gauge (platform '' before submit)."""
        rows = await self._rows(
            "SELECT phase, COALESCE(platform, '') AS platform, COUNT(*) AS n "
            "FROM jobs GROUP BY phase, platform"
        )
        return {(str(r["phase"]), str(r["platform"])): int(r["n"]) for r in rows}

    async def writable(self) -> bool:
        """True if the store can take the write lock now (readiness probes)."""
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                await self._writer.execute("ROLLBACK")
                return True
            except (sqlite3.Error, ValueError):
                return False

    async def ping(self) -> bool:
        """True if the database answers (used by VOSI availability)."""
        try:
            return await self._row("SELECT 1") is not None
        except (sqlite3.Error, ValueError):
            return False

    @asynccontextmanager
    async def _changing(self, job_id: str) -> AsyncIterator[None]:
        """Keep the record cache coherent around a write to one job."""
        self.cache.drop(job_id)
        try:
            yield
        finally:
            self.cache.drop(job_id)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def _write(self, sql: str, args: Sequence[Any]) -> int:
        async with self._lock:
            cur = await self._writer.execute(sql, args)
            count = cur.rowcount
            await cur.close()
            return count

    # ------------------------------------------------------------------ jobs

    async def insert(self, job: Job) -> None:
        async with self._changing(job.job_id):
            await self._write(_INSERT_JOB, _job_values(job))

    async def get(self, job_id: str) -> Job | None:
        cached = self.cache.get(job_id)
        if cached is not None:
            return cached
        writes = self.cache.writes
        sql = f"SELECT {_JOB_COLUMNS}, {_RESULTS_JSON} AS results FROM jobs WHERE job_id = ?"
        row = await self._row(sql, (job_id,))
        if row is None:
            return None
        job = _job_from_row(row)
        self.cache.put(job, writes)
        return job

    async def owner_of(self, job_id: str) -> tuple[bool, str | None]:
        """(exists, owner) without loading the job."""
        row = await self._row("SELECT owner FROM jobs WHERE job_id = ?", (job_id,))
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
        where = ["owner IS ?"]
        args: list[Any] = [owner]
        if phases:
            where.append(f"phase IN ({', '.join('?' * len(phases))})")
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
        rows = await self._rows(sql, args)
        return [
            JobSummary(
                job_id=r[0],
                phase=Phase(r[1]),
                creation_time=from_db_instant(r[2]),
                run_id=r[3],
                owner=r[4],
            )
            for r in rows
        ]

    async def count(self) -> int:
        row = await self._row("SELECT count(*) FROM jobs")
        return int(row[0]) if row else 0

    async def update(self, job_id: str, **fields: Any) -> bool:
        """Set columns (values converted from records' types). True if the job exists."""
        sets, args = _assignments(fields)
        args.append(job_id)
        async with self._changing(job_id):
            return await self._write(f"UPDATE jobs SET {sets} WHERE job_id = ?", args) == 1

    async def move(
        self, job_id: str, from_phases: Collection[Phase], to: Phase, **fields: Any
    ) -> bool:
        """Compare-and-set phase change; False if the job was not in ``from_phases``."""
        sets, args = _assignments({"phase": to, **fields})
        args.append(job_id)
        args.extend(p.value for p in from_phases)
        marks = ", ".join("?" * len(from_phases))
        sql = f"UPDATE jobs SET {sets} WHERE job_id = ? AND phase IN ({marks})"
        async with self._changing(job_id):
            return await self._write(sql, args) == 1

    async def delete(self, job_id: str) -> bool:
        async with self._changing(job_id), self._transaction() as db:
            await db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            cur = await db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            return cur.rowcount == 1

    async def live_jobs(self, phases: Collection[Phase]) -> list[LiveJob]:
        marks = ", ".join("?" * len(phases))
        sql = (
            "SELECT job_id, owner, phase, platform, handle, cancel_requested FROM jobs "
            f"WHERE phase IN ({marks}) ORDER BY creation_time"
        )
        rows = await self._rows(sql, [p.value for p in phases])
        return [LiveJob(r[0], r[1], Phase(r[2]), r[3], r[4], bool(r[5])) for r in rows]

    async def unreleased_aborts(self) -> list[LiveJob]:
        """Aborted jobs whose platform has not yet confirmed the end of the task
        (the EB view shows them RELEASING); a restarted dispatcher watches them again."""
        sql = (
            "SELECT job_id, owner, phase, platform, handle, cancel_requested FROM jobs "
            "WHERE phase = 'ABORTED' AND cancel_requested = 1 AND handle IS NOT NULL "
            "AND json_extract(job_info, '$.abort_reason') IS NOT NULL "
            "AND json_extract(job_info, '$.released') IS NULL ORDER BY creation_time"
        )
        rows = await self._rows(sql)
        return [LiveJob(r[0], r[1], Phase(r[2]), r[3], r[4], bool(r[5])) for r in rows]

    async def handle_of(self, job_id: str) -> tuple[str | None, str | None]:
        """(platform, handle JSON) of a job."""
        row = await self._row("SELECT platform, handle FROM jobs WHERE job_id = ?", (job_id,))
        return (None, None) if row is None else (row[0], row[1])

    async def job_ids(self, job_ids: Iterable[str]) -> set[str]:
        """Which of ``job_ids`` exist (and are not archived)."""
        ids = list(job_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = (
                f"SELECT job_id FROM jobs WHERE job_id IN ({', '.join('?' * len(chunk))}) "
                "AND phase != 'ARCHIVED'"
            )
            found.update(r[0] for r in await self._rows(sql, chunk))
        return found

    # -------------------------------------------------------------- deadlines

    async def next_deadline(self) -> datetime | None:
        """The earliest run deadline, destruction time or offer expiry still to enforce."""
        sql = (
            "SELECT min(t) FROM ("
            "SELECT min(run_deadline) AS t FROM jobs WHERE run_deadline IS NOT NULL "
            "UNION ALL SELECT min(destruction) FROM jobs "
            "WHERE destruction IS NOT NULL AND phase != 'ARCHIVED' "
            "UNION ALL SELECT min(expires) FROM offers WHERE phase = 'OFFERED')"
        )
        row = await self._row(sql)
        return _read_instant(row[0]) if row else None

    async def overrun(self, now: datetime) -> list[str]:
        sql = "SELECT job_id FROM jobs WHERE run_deadline IS NOT NULL AND run_deadline <= ?"
        return [r[0] for r in await self._rows(sql, (db_instant(now),))]

    async def expired(self, now: datetime) -> list[str]:
        sql = (
            "SELECT job_id FROM jobs WHERE destruction IS NOT NULL AND destruction <= ? "
            "AND phase != 'ARCHIVED'"
        )
        return [r[0] for r in await self._rows(sql, (db_instant(now),))]

    # ---------------------------------------------------------------- results

    async def add_results(self, job_id: str, results: Sequence[StoredResult]) -> None:
        """Record results (a result id seen again is updated, not duplicated)."""
        async with self._changing(job_id), self._transaction() as db:
            async with db.execute(
                "SELECT coalesce(max(seq), 0) FROM results WHERE job_id = ?", (job_id,)
            ) as cur:
                row = await cur.fetchone()
            seq = int(row[0]) if row else 0
            for item in results:
                seq += 1
                r = item.result
                await db.execute(
                    "INSERT INTO results (job_id, seq, result_id, mime_type, size, href, path) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, result_id) DO UPDATE SET "
                    "mime_type = excluded.mime_type, size = excluded.size, "
                    "href = excluded.href, path = excluded.path",
                    (job_id, seq, r.id, r.mime_type, r.size, r.href, item.path),
                )

    async def get_result(self, job_id: str, result_id: str) -> StoredResult | None:
        row = await self._row(
            "SELECT result_id, mime_type, size, href, path FROM results "
            "WHERE job_id = ? AND result_id = ?",
            (job_id, result_id),
        )
        if row is None:
            return None
        return StoredResult(JobResult(row[0], row[1], row[2], row[3]), row[4])

    async def drop_results(self, job_id: str) -> None:
        async with self._changing(job_id):
            await self._write("DELETE FROM results WHERE job_id = ?", (job_id,))

    # ----------------------------------------------------------------- offers

    async def insert_offerset(self, offerset: OfferSetRow, offers: Sequence[OfferRow]) -> None:
        """Store an offer set and its offers in one transaction."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO offersets (offerset_id, owner, created, request, messages) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    offerset.offerset_id,
                    offerset.owner,
                    db_instant(offerset.created),
                    json.dumps(offerset.request),
                    json.dumps([dict(m) for m in offerset.messages]),
                ),
            )
            await db.executemany(
                "INSERT INTO offers (offer_id, offerset_id, owner, seq, created, phase, "
                "expires, offer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.offer_id,
                        o.offerset_id,
                        o.owner,
                        o.seq,
                        db_instant(o.created),
                        o.phase,
                        db_instant(o.expires),
                        json.dumps(o.offer),
                    )
                    for o in offers
                ],
            )

    async def get_offerset(self, offerset_id: str) -> OfferSetRow | None:
        row = await self._row(
            "SELECT offerset_id, owner, created, request, messages FROM offersets "
            "WHERE offerset_id = ?",
            (offerset_id,),
        )
        return _offerset_from_row(row) if row is not None else None

    async def offers_of(self, offerset_id: str) -> list[OfferRow]:
        rows = await self._rows(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offerset_id = ? ORDER BY seq",
            (offerset_id,),
        )
        return [_offer_from_row(r) for r in rows]

    async def get_offer(self, offer_id: str) -> OfferRow | None:
        row = await self._row(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offer_id = ?", (offer_id,)
        )
        return _offer_from_row(row) if row is not None else None

    async def accept_offer(self, offer_id: str, job: Job, now: datetime) -> str | None:
        """Accept an offer atomically: compare-and-set OFFERED -> ACCEPTED (only before
        it expires), its siblings OFFERED -> REJECTED, and the job row (same id)
        inserted, all in one transaction.

        Returns ``None`` if this call accepted it, else the phase that stopped it
        (``ACCEPTED`` when it was accepted before; ``EXPIRED`` also when its
        expiry has passed and the reaper has not got to it yet); ``""`` if there
        is no such offer.
        """
        async with self._changing(job.job_id), self._transaction() as db:
            async with db.execute(
                "SELECT offerset_id, phase, expires FROM offers WHERE offer_id = ?", (offer_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return ""
            offerset_id, phase, expires = row[0], row[1], row[2]
            if phase != "OFFERED":
                return str(phase)
            if expires <= db_instant(now):
                await db.execute(
                    "UPDATE offers SET phase = 'EXPIRED' WHERE offer_id = ?", (offer_id,)
                )
                return "EXPIRED"
            await db.execute("UPDATE offers SET phase = 'ACCEPTED' WHERE offer_id = ?", (offer_id,))
            await db.execute(
                "UPDATE offers SET phase = 'REJECTED' WHERE offerset_id = ? AND offer_id != ? "
                "AND phase = 'OFFERED'",
                (offerset_id, offer_id),
            )
            await db.execute(_INSERT_JOB, _job_values(job))
            return None

    async def reject_offer(self, offer_id: str, now: datetime) -> str | None:
        """OFFERED -> REJECTED (compare-and-set); ``None`` on success, else the phase
        that stopped it (``EXPIRED`` once its expiry has passed), ``""`` if none."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT phase, expires FROM offers WHERE offer_id = ?", (offer_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return ""
            if row[0] != "OFFERED":
                return str(row[0])
            if row[1] <= db_instant(now):
                await db.execute(
                    "UPDATE offers SET phase = 'EXPIRED' WHERE offer_id = ?", (offer_id,)
                )
                return "EXPIRED"
            await db.execute("UPDATE offers SET phase = 'REJECTED' WHERE offer_id = ?", (offer_id,))
            return None

    async def expire_offers(self, now: datetime) -> list[str]:
        """OFFERED -> EXPIRED for every offer whose expiry has passed; their ids."""
        async with self._lock:
            rows = await self._writer.execute_fetchall(
                "UPDATE offers SET phase = 'EXPIRED' WHERE phase = 'OFFERED' AND expires <= ? "
                "RETURNING offer_id",
                (db_instant(now),),
            )
        return [r[0] for r in rows]

    async def list_offersets(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[OfferSetRow]:
        """An owner's offer sets, newest first; with ``offer_phases``, only the sets
        holding an offer in one of them."""
        where = ["owner IS ?"]
        args: list[Any] = [owner]
        if offer_phases:
            marks = ", ".join("?" * len(offer_phases))
            where.append(
                "EXISTS (SELECT 1 FROM offers o WHERE o.offerset_id = offersets.offerset_id "
                f"AND o.phase IN ({marks}))"
            )
            args.extend(offer_phases)
        _time_filters(where, args, "created", after, before)
        args.append(limit)
        rows = await self._rows(
            "SELECT offerset_id, owner, created, request, messages FROM offersets "
            f"WHERE {' AND '.join(where)} ORDER BY created DESC, offerset_id DESC LIMIT ?",
            args,
        )
        return [_offerset_from_row(r) for r in rows]

    async def list_sessions(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        job_phases: Collection[Phase] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[SessionRef]:
        """An owner's sessions, newest first: offers not accepted (an accepted offer is
        its job) and jobs. ``None`` for a phase set means no filter; empty: none."""
        parts: list[str] = []
        args: list[Any] = []
        if offer_phases is None or offer_phases:
            where = ["owner IS ?", "phase != 'ACCEPTED'"]
            args.append(owner)
            if offer_phases:
                where.append(f"phase IN ({', '.join('?' * len(offer_phases))})")
                args.extend(offer_phases)
            _time_filters(where, args, "created", after, before)
            parts.append(
                f"SELECT offer_id AS id, created AS t, 0 AS job FROM offers "
                f"WHERE {' AND '.join(where)}"
            )
        if job_phases is None or job_phases:
            where = ["owner IS ?"]
            args.append(owner)
            if job_phases:
                where.append(f"phase IN ({', '.join('?' * len(job_phases))})")
                args.extend(p.value for p in job_phases)
            else:
                where.append("phase != 'ARCHIVED'")
            _time_filters(where, args, "creation_time", after, before)
            parts.append(
                f"SELECT job_id AS id, creation_time AS t, 1 AS job FROM jobs "
                f"WHERE {' AND '.join(where)}"
            )
        if not parts:
            return []
        args.append(limit)
        sql = f"{' UNION ALL '.join(parts)} ORDER BY t DESC, id DESC LIMIT ?"
        rows = await self._rows(sql, args)
        return [SessionRef(r[0], from_db_instant(r[1]), bool(r[2])) for r in rows]

    # ---------------------------------------------- identity: limits and admins (auth/)

    async def count_active_jobs(self, owner: str | None) -> int:
        """An owner's jobs that have not ended (per-owner limits, ivoa_broker.auth.limits)."""
        row = await self._row(
            "SELECT count(*) FROM jobs WHERE owner IS ? AND phase IN "
            "('PENDING', 'QUEUED', 'EXECUTING', 'HELD', 'SUSPENDED')",
            (owner,),
        )
        return int(row[0]) if row else 0

    async def count_pending_offersets(self, owner: str | None, now: datetime) -> int:
        """An owner's offer sets with an offer still OFFERED and unexpired."""
        row = await self._row(
            "SELECT count(DISTINCT offerset_id) FROM offers "
            "WHERE owner IS ? AND phase = 'OFFERED' AND expires > ?",
            (owner, db_instant(now)),
        )
        return int(row[0]) if row else 0

    async def list_every_job(
        self, *, phases: Collection[Phase] | None, after: datetime | None, limit: int
    ) -> list[JobSummary]:
        """Every owner's jobs, newest first (the admins' job list)."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if phases:
            where.append(f"phase IN ({', '.join('?' * len(phases))})")
            args.extend(p.value for p in phases)
        else:
            where.append("phase != 'ARCHIVED'")
        if after is not None:
            where.append("creation_time > ?")
            args.append(db_instant(after))
        rows = await self._rows(
            "SELECT job_id, phase, creation_time, run_id, owner FROM jobs "
            f"WHERE {' AND '.join(where)} ORDER BY creation_time DESC, job_id DESC LIMIT ?",
            [*args, limit],
        )
        return [JobSummary(r[0], Phase(r[1]), from_db_instant(r[2]), r[3], r[4]) for r in rows]


_OFFER_COLUMNS = "offer_id, offerset_id, owner, seq, created, phase, expires, offer"

_INSERT_JOB = (
    "INSERT INTO jobs (job_id, owner, run_id, phase, creation_time, quote, "
    "execution_duration, destruction, parameters, platform, job_info) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _job_values(job: Job) -> tuple[Any, ...]:
    return (
        job.job_id,
        job.owner,
        job.run_id,
        job.phase.value,
        db_instant(job.creation_time),
        _opt_instant(job.quote),
        job.execution_duration,
        _opt_instant(job.destruction),
        _params_json(job.parameters),
        job.platform,
        json.dumps(dict(job.job_info)),
    )


def _time_filters(
    where: list[str], args: list[Any], column: str, after: datetime | None, before: datetime | None
) -> None:
    if after is not None:
        where.append(f"{column} >= ?")
        args.append(db_instant(after))
    if before is not None:
        where.append(f"{column} < ?")
        args.append(db_instant(before))


def _offerset_from_row(row: sqlite3.Row) -> OfferSetRow:
    return OfferSetRow(
        offerset_id=row[0],
        owner=row[1],
        created=from_db_instant(row[2]),
        request=json.loads(row[3]),
        messages=tuple(json.loads(row[4])),
    )


def _offer_from_row(row: sqlite3.Row) -> OfferRow:
    return OfferRow(
        offer_id=row[0],
        offerset_id=row[1],
        owner=row[2],
        seq=row[3],
        created=from_db_instant(row[4]),
        phase=row[5],
        expires=from_db_instant(row[6]),
        offer=json.loads(row[7]),
    )


def _params_json(params: Sequence[Parameter]) -> str:
    return json.dumps([[p.name, p.value, p.by_reference] for p in params])


def _assignments(fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for name, value in fields.items():
        if name == "error":
            err: JobError | None = value
            parts += ["error_type = ?", "error_message = ?", "error_detail = ?"]
            args += [err.type, err.message, err.detail] if err else [None, None, None]
            continue
        if name == "parameters":
            value = _params_json(value)
        elif name == "job_info":
            value = json.dumps(dict(value))
        elif isinstance(value, Phase):
            value = value.value
        elif isinstance(value, datetime):
            value = db_instant(value)
        elif isinstance(value, bool):
            value = int(value)
        parts.append(f"{name} = ?")
        args.append(value)
    return ", ".join(parts), args


def _job_from_row(row: sqlite3.Row) -> Job:
    error = (
        JobError(type=row["error_type"], message=row["error_message"], detail=row["error_detail"])
        if row["error_type"]
        else None
    )
    return Job(
        job_id=row["job_id"],
        owner=row["owner"],
        run_id=row["run_id"],
        phase=Phase(row["phase"]),
        creation_time=from_db_instant(row["creation_time"]),
        start_time=_read_instant(row["start_time"]),
        end_time=_read_instant(row["end_time"]),
        quote=_read_instant(row["quote"]),
        execution_duration=row["execution_duration"],
        destruction=_read_instant(row["destruction"]),
        parameters=tuple(Parameter(n, v, bool(b)) for n, v, b in json.loads(row["parameters"])),
        results=tuple(
            JobResult(id=i, mime_type=m, size=s, href=h)
            for i, m, s, h in json.loads(row["results"] or "[]")
        ),
        error=error,
        platform=row["platform"],
        job_info=json.loads(row["job_info"]),
    )
