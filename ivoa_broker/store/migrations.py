"""Versioned schema migrations, the same versions for SQLite and PostgreSQL.

The schema version lives in ``meta`` (``schema_version``). :func:`migrate` runs at
every start-up (and by ``ivoa-broker migrate``) inside one transaction that holds
the schema lock (SQLite's write lock; a PostgreSQL advisory lock), so replicas
starting together migrate once, and a failed step leaves the database as it was.

1. the schema as first released (jobs, results, offer sets, offers, meta);
2. lifecycle flags in their own columns: ``abort_reason`` and ``released`` moved
   out of the user-visible jobInfo JSON (existing rows are carried over);
3. PostgreSQL only: triggers that ``NOTIFY`` every change to a job, its results
   or an offer, so every replica hears of it (SQLite: nothing to do);
4. ``leases``: who does the once-only work, until when (:mod:`.leases`);
5. ``launch_intent``: the offer (so the platform instance) a job is being submitted
   to, stored before ``submit`` is called, so a broker that dies before the Handle
   is stored resumes on that platform, never on another;
6. covering indexes for the job lists: ``jobs_owner_list`` (owner, creation_time,
   job_id, phase, run_id) answers an owner's list from the index alone, in the order
   asked (creation time, then job id: no sort step); ``jobs_created_id``
   (creation_time, job_id) gives every owner's list (admins) its order. They replace
   ``jobs_owner_created`` and ``jobs_created``, which are their prefixes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ivoa_broker.store.db import Database, Dialect, Tx
from ivoa_broker.units import db_instant

#: the PostgreSQL channel the triggers of migration 3 notify on
CHANNEL = "ivoa_broker_changes"


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    statements: Callable[[Dialect], list[str]]
    backfill: Callable[[Tx], Awaitable[None]] | None = None


def _v1(d: Dialect) -> list[str]:
    return [
        """CREATE TABLE IF NOT EXISTS jobs (
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
)""",
        "CREATE INDEX IF NOT EXISTS jobs_owner_created ON jobs (owner, creation_time)",
        "CREATE INDEX IF NOT EXISTS jobs_owner_phase_created ON jobs (owner, phase, creation_time)",
        "CREATE INDEX IF NOT EXISTS jobs_phase ON jobs (phase)",
        "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (creation_time)",
        "CREATE INDEX IF NOT EXISTS jobs_run_deadline ON jobs (run_deadline) "
        "WHERE run_deadline IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS jobs_destruction ON jobs (destruction) "
        "WHERE destruction IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    result_id TEXT NOT NULL,
    mime_type TEXT,
    size {d.bigint},
    href TEXT,
    path TEXT,
    PRIMARY KEY (job_id, result_id)
)""",
        """CREATE TABLE IF NOT EXISTS offersets (
    offerset_id TEXT PRIMARY KEY,
    owner TEXT,
    created TEXT NOT NULL,
    request TEXT NOT NULL,
    messages TEXT NOT NULL DEFAULT '[]'
)""",
        "CREATE INDEX IF NOT EXISTS offersets_owner_created ON offersets (owner, created)",
        """CREATE TABLE IF NOT EXISTS offers (
    offer_id TEXT PRIMARY KEY,
    offerset_id TEXT NOT NULL REFERENCES offersets (offerset_id) ON DELETE CASCADE,
    owner TEXT,
    seq INTEGER NOT NULL,
    created TEXT NOT NULL,
    phase TEXT NOT NULL,
    expires TEXT NOT NULL,
    offer TEXT NOT NULL
)""",
        "CREATE INDEX IF NOT EXISTS offers_set ON offers (offerset_id, seq)",
        "CREATE INDEX IF NOT EXISTS offers_owner_created ON offers (owner, created)",
        "CREATE INDEX IF NOT EXISTS offers_expiry ON offers (expires) WHERE phase = 'OFFERED'",
    ]


def _v2(d: Dialect) -> list[str]:
    return [
        "ALTER TABLE jobs ADD COLUMN abort_reason TEXT",
        "ALTER TABLE jobs ADD COLUMN released TEXT",
        "CREATE INDEX IF NOT EXISTS jobs_unreleased ON jobs (creation_time) "
        "WHERE phase = 'ABORTED' AND abort_reason IS NOT NULL AND released IS NULL",
    ]


async def _v2_backfill(tx: Tx) -> None:
    """Carry ``abort_reason``/``released`` out of jobInfo into their columns."""
    rows = await tx.rows(
        "SELECT job_id, job_info FROM jobs "
        "WHERE job_info LIKE '%\"abort_reason\"%' OR job_info LIKE '%\"released\"%'"
    )
    for job_id, text in rows:
        info = json.loads(text)
        reason = info.pop("abort_reason", None)
        released = info.pop("released", None)
        await tx.execute(
            "UPDATE jobs SET abort_reason = ?, released = ?, job_info = ? WHERE job_id = ?",
            (reason, _instant_text(released), json.dumps(info), job_id),
        )


def _instant_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return db_instant(datetime.now(UTC))
    return db_instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _v3(d: Dialect) -> list[str]:
    if d.name != "postgresql":
        return []
    # payload "w:<id>": a change that wakes WAIT (a job's phase, jobInfo or release, an
    # offer's phase, a job gone); "c:<id>": one that only stales caches (handle,
    # deadlines, results)
    job = (
        "IF TG_OP = 'DELETE' THEN "
        f"PERFORM pg_notify('{CHANNEL}', 'w:' || OLD.job_id); RETURN OLD; END IF; "
        "IF TG_OP = 'UPDATE' AND OLD.phase = NEW.phase AND OLD.job_info = NEW.job_info "
        "AND OLD.released IS NOT DISTINCT FROM NEW.released THEN "
        f"PERFORM pg_notify('{CHANNEL}', 'c:' || NEW.job_id); "
        f"ELSE PERFORM pg_notify('{CHANNEL}', 'w:' || NEW.job_id); END IF; RETURN NEW;"
    )
    result = (
        "IF TG_OP = 'DELETE' THEN "
        f"PERFORM pg_notify('{CHANNEL}', 'c:' || OLD.job_id); RETURN OLD; END IF; "
        f"PERFORM pg_notify('{CHANNEL}', 'c:' || NEW.job_id); RETURN NEW;"
    )
    offer = (
        "IF TG_OP = 'DELETE' THEN "
        f"PERFORM pg_notify('{CHANNEL}', 'w:' || OLD.offer_id); RETURN OLD; END IF; "
        f"PERFORM pg_notify('{CHANNEL}', 'w:' || NEW.offer_id); RETURN NEW;"
    )
    out: list[str] = []
    for table, body in (("jobs", job), ("results", result), ("offers", offer)):
        out.append(
            f"CREATE OR REPLACE FUNCTION ivoa_broker_notify_{table}() RETURNS trigger AS $$ "
            f"BEGIN {body} END $$ LANGUAGE plpgsql"
        )
        out.append(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        out.append(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ivoa_broker_notify_{table}()"
        )
    return out


def _v4(d: Dialect) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS leases ("
        "name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires TEXT NOT NULL)"
    ]


def _v5(d: Dialect) -> list[str]:
    return ["ALTER TABLE jobs ADD COLUMN launch_intent TEXT"]


def _v6(d: Dialect) -> list[str]:
    return [
        "CREATE INDEX IF NOT EXISTS jobs_owner_list "
        "ON jobs (owner, creation_time, job_id, phase, run_id)",
        "CREATE INDEX IF NOT EXISTS jobs_created_id ON jobs (creation_time, job_id)",
        # prefixes of the two above: every query they served, those serve as well
        "DROP INDEX IF EXISTS jobs_owner_created",
        "DROP INDEX IF EXISTS jobs_created",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "jobs, results, offer sets, offers", _v1),
    Migration(2, "abort_reason and released in their own columns", _v2, _v2_backfill),
    Migration(3, "change notification triggers (PostgreSQL)", _v3),
    Migration(4, "leases for once-only work", _v4),
    Migration(5, "launch intent (the platform a submit went to)", _v5),
    Migration(6, "covering indexes for the job lists", _v6),
)

LATEST = MIGRATIONS[-1].version


async def current_version(tx: Tx) -> int:
    await tx.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = await tx.rows("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(row[0][0]) if row else 0


async def migrate(db: Database) -> list[int]:
    """Bring the schema to :data:`LATEST`; the versions applied (none: up to date).

    A database newer than this code (a later version recorded) is refused rather
    than written by code that does not know its columns.
    """
    from ivoa_broker.store.rows import StoreError

    applied: list[int] = []
    async with db.migrating() as tx:
        version = await current_version(tx)
        if version > LATEST:
            raise StoreError(
                f"the job store {db.where} has schema version {version}; this broker knows "
                f"up to {LATEST}: upgrade the broker"
            )
        for step in MIGRATIONS:
            if step.version <= version:
                continue
            for statement in step.statements(db.dialect):
                await tx.execute(statement)
            if step.backfill is not None:
                await step.backfill(tx)
            applied.append(step.version)
        if applied:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(LATEST),),
            )
    return applied
