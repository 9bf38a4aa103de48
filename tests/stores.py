"""Both stores for the core tests: SQLite (a file in the test's folder) and a real
PostgreSQL (one server per test run, started by ivoa_broker.testing.postgres; one
fresh schema per test).

Tests that take ``store`` (an open :class:`JobStore`), ``store_url``, or use
``both_stores`` (every rig of the test on that store) run once per store, with the
ids ``[sqlite]`` and ``[postgresql]``. The server is a session fixture: each xdist
worker that runs such tests starts its own.
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


@pytest.fixture(params=STORES)
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """``None`` for SQLite (the rig's file in tmp_path), else a PostgreSQL URL."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield await new_schema(server)


@pytest.fixture
async def store(tmp_path: Path, store_url: str | None) -> AsyncIterator[JobStore]:
    """An open, migrated store: a file in the test's folder, or a fresh PostgreSQL schema."""
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
