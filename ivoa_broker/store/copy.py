"""``ivoa-broker copy-store``: every row of one store into another, empty one
(SQLite -> PostgreSQL when a broker outgrows one process; or back).

Both ends are migrated to the latest schema first, so the columns match; the
rows go in one transaction on the target (all or nothing), parents before
children (jobs before results, offer sets before offers), in primary-key order
and in batches, so a large store is never read into memory whole. Stop the
broker that serves the source first: rows written during the copy may be missed.

``leases`` are not copied, by design: a lease is runtime state (which running
replica does the once-only work, renewed every few seconds), not data. Its
holder is a process of the source's broker, which is stopped; copied, it would
only make the target's first replica wait for it to expire. The target starts
without leases and its first replica takes them.
"""

from __future__ import annotations

from pathlib import Path

from ivoa_broker.store.db import Database
from ivoa_broker.store.migrations import migrate
from ivoa_broker.store.rows import StoreError
from ivoa_broker.store.sql import open_database

#: tables, their columns (schema version 5) and keys, in fill order; ``leases`` are
#: not copied (runtime state, see :func:`copy_store`)
TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "jobs",
        "job_id, owner, run_id, phase, creation_time, start_time, end_time, quote, "
        "execution_duration, destruction, parameters, error_type, error_message, "
        "error_detail, platform, handle, job_info, run_deadline, cancel_requested, "
        "abort_reason, released, launch_intent",
        "job_id",
    ),
    ("results", "job_id, seq, result_id, mime_type, size, href, path", "job_id, result_id"),
    ("offersets", "offerset_id, owner, created, request, messages", "offerset_id"),
    (
        "offers",
        "offer_id, offerset_id, owner, seq, created, phase, expires, offer",
        "offer_id",
    ),
)

BATCH = 500


async def copy_store(source: Path | str, target: Path | str) -> dict[str, int]:
    """Copy every row; the number copied per table. Refuses a target holding jobs
    or offers (nothing is overwritten)."""
    src = await open_database(source)
    try:
        dst = await open_database(target)
        try:
            await migrate(src)
            await migrate(dst)
            return await _copy(src, dst)
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(src: Database, dst: Database) -> dict[str, int]:
    for table, _, _ in TABLES:
        row = await dst.row(f"SELECT count(*) FROM {table}")
        if row and int(row[0]):
            raise StoreError(f"the target store {dst.where} is not empty ({table}); not copied")
    counts: dict[str, int] = {}
    async with dst.transaction() as tx:
        for table, columns, key in TABLES:
            n = len(columns.split(","))
            insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * n)})"
            counts[table] = 0
            offset = 0
            while True:
                rows = await src.rows(
                    f"SELECT {columns} FROM {table} ORDER BY {key} LIMIT ? OFFSET ?",
                    (BATCH, offset),
                )
                if not rows:
                    break
                await tx.executemany(insert, [tuple(r) for r in rows])
                counts[table] += len(rows)
                offset += len(rows)
    return counts
