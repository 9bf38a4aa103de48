"""Versioned migrations: a database made by the first released schema upgrades in
place (lifecycle flags carried out of jobInfo into their own columns), a fresh one
gets every version, a second start applies nothing, and a newer database is refused."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivoa_broker.store import JobStore, StoreError, open_database
from ivoa_broker.store.migrations import LATEST, migrate

#: the schema exactly as ivoa_broker/store.py created it before migrations existed
V1_SCHEMA = """
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


def v1_database(path: Path) -> None:
    """A database as the broker left it before this change: three jobs, one aborted
    and released, one aborted and waiting for its platform, one running."""
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    rows = [
        ("a", "ABORTED", {"abort_reason": "aborted at the owner's request",
                          "released": "2026-11-01T12:00:05+00:00", "note": "kept"}),
        ("b", "ABORTED", {"abort_reason": "destruction time reached"}),
        ("c", "EXECUTING", {"platform_message": "running"}),
    ]  # fmt: skip
    for job_id, phase, info in rows:
        db.execute(
            "INSERT INTO jobs (job_id, owner, phase, creation_time, platform, handle, "
            "job_info, cancel_requested) VALUES (?, 'alice', ?, ?, 'p', '{}', ?, 1)",
            (job_id, phase, f"2026-11-01T12:00:0{len(job_id)}.000000Z", json.dumps(info)),
        )
    db.execute(
        "INSERT INTO results (job_id, seq, result_id, size, path) VALUES ('c', 1, 'out', 3, '/o')"
    )
    db.commit()
    db.close()


async def test_v1_sqlite_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_database(path)
    store = await JobStore.open(path)
    try:
        a, b, c = [await store.get(x) for x in "abc"]
        assert a is not None and b is not None and c is not None
        assert a.abort_reason == "aborted at the owner's request"
        assert a.released == datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC)
        assert dict(a.job_info) == {"note": "kept"}  # the flags left the user-visible info
        assert (b.abort_reason, b.released, dict(b.job_info)) == (
            "destruction time reached", None, {},
        )  # fmt: skip
        assert dict(c.job_info) == {"platform_message": "running"}
        assert c.results[0].size == 3
        assert [j.job_id for j in await store.unreleased_aborts()] == ["b"]
        version = await store.db.row("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version is not None and int(version[0]) == LATEST
    finally:
        await store.close()


async def test_up_to_date_applies_nothing(tmp_path: Path, fresh_store_url: str | None) -> None:
    where = fresh_store_url or tmp_path / "new.db"
    db = await open_database(where)
    try:
        assert await migrate(db) == list(range(1, LATEST + 1))
        assert await migrate(db) == []
    finally:
        await db.close()


async def test_newer_database_is_refused(tmp_path: Path, fresh_store_url: str | None) -> None:
    where = fresh_store_url or tmp_path / "new.db"
    db = await open_database(where)
    try:
        await migrate(db)
        await db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST + 1),)
        )
        with pytest.raises(StoreError, match="upgrade the broker"):
            await migrate(db)
    finally:
        await db.close()


async def test_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_database(path)
    raw = sqlite3.connect(path)
    raw.execute("ALTER TABLE jobs ADD COLUMN released TEXT")  # migration 2 will collide
    raw.commit()
    raw.close()
    with pytest.raises(Exception, match="released"):
        await JobStore.open(path)
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == "1"
        columns = {r[1] for r in raw.execute("PRAGMA table_info(jobs)")}
        assert "abort_reason" not in columns  # rolled back with the rest of step 2
    finally:
        raw.close()


async def test_the_job_lists_have_their_covering_indexes(
    tmp_path: Path, fresh_store_url: str | None
) -> None:
    """Migration 6 on either engine: the list indexes made, their prefixes dropped."""
    where = fresh_store_url or tmp_path / "new.db"
    db = await open_database(where)
    try:
        await migrate(db)
        if db.dialect.name == "postgresql":
            sql = (
                "SELECT indexname FROM pg_indexes "
                "WHERE tablename = 'jobs' AND schemaname = current_schema()"
            )
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
        names = {r[0] for r in await db.rows(sql)}
        assert {"jobs_owner_list", "jobs_created_id", "jobs_owner_phase_created"} <= names
        assert not {"jobs_owner_created", "jobs_created"} & names
    finally:
        await db.close()
