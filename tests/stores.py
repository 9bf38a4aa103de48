"""Both stores for the core tests: SQLite (a file in the test's folder) and a real
PostgreSQL (one server per test run, started by ivoa_broker.testing.postgres; one
fresh schema per test).

Tests that take ``store`` (an open :class:`JobStore`), ``store_url``, or use
``both_stores`` (every rig of the test on that store) run once per store, with the
ids ``[sqlite]`` and ``[postgresql]``. The server is a session fixture: each xdist
worker that runs such tests starts its own. A PostgreSQL test gets a migrated schema
with no rows: schemas are reused from test to test (emptied), since migrating a new
one costs more than most tests; ``fresh_store_url`` gives a new, empty schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivoa_broker.store import JobStore
from ivoa_broker.testing.postgres import PostgresServer, PostgresUnavailable
from tests import rig

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI installs it: .ci/install.d/25-postgresql.sh)")
        pytest.skip(str(exc))
    try:
        server.create_database("broker")
        yield server
    finally:
        server.stop()


async def new_schema(server: PostgresServer) -> str:
    """A URL whose tables live in a new, empty schema of the ``broker`` database."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server.url("broker"))
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return f"{server.url('broker')}?search_path={name}"


#: the tables a test may fill, children first (emptied when a schema is reused)
TABLES = ("results", "offers", "offersets", "jobs", "leases")


class Schemas:
    """Migrated schemas of the session's server, reused from test to test: a test
    gets one emptied of rows (a few ``DELETE``s), not one migrated anew (tables,
    indexes and triggers: the larger part of a PostgreSQL test's own cost)."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.free: list[str] = []

    async def take(self) -> str:
        while self.free:
            url = self.free.pop()
            if await _emptied(url):
                return url
        return await new_schema(self.server)  # migrated by the test's first open

    def give_back(self, url: str) -> None:
        self.free.append(url)


async def _emptied(url: str) -> bool:
    """Empty a reused schema; False if it is not at the latest version (a test
    changed it, or never opened it): then it is not reused."""
    import asyncpg

    from ivoa_broker.store.migrations import LATEST

    conn = await asyncpg.connect(url.split("?", 1)[0])
    try:
        schema = url.rsplit("search_path=", 1)[1]
        await conn.execute(f"SET search_path = {schema}")
        try:
            version = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
        except asyncpg.UndefinedTableError:
            return False
        if version != str(LATEST):
            return False
        async with conn.transaction():
            for table in TABLES:
                await conn.execute(f"DELETE FROM {table}")
        return True
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_schemas(postgres_server: PostgresServer) -> Schemas:
    return Schemas(postgres_server)


@pytest.fixture(params=STORES)
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """``None`` for SQLite (the rig's file in tmp_path), else a PostgreSQL URL: a
    migrated schema of this worker's server with no rows in it (reused, emptied)."""
    if request.param == "sqlite":
        yield None
        return
    schemas: Schemas = request.getfixturevalue("postgres_schemas")
    url = await schemas.take()
    yield url
    schemas.give_back(url)


@pytest.fixture(params=STORES)
async def fresh_store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """Like ``store_url``, but a new PostgreSQL schema without any table (migration tests)."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield await new_schema(server)


@pytest.fixture
async def store(tmp_path: Path, store_url: str | None) -> AsyncIterator[JobStore]:
    """An open, migrated store: a file in the test's folder, or an empty PostgreSQL schema."""
    opened = await JobStore.open(store_url or tmp_path / "jobs.db")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def both_stores(store_url: str | None) -> Iterator[str | None]:
    """Make every rig of the test use ``store_url`` (``usefixtures("both_stores")``)."""
    rig.DEFAULT_STORE = store_url
    try:
        yield store_url
    finally:
        rig.DEFAULT_STORE = None
