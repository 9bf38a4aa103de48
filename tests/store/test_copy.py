"""``ivoa-broker migrate`` and ``ivoa-broker copy-store`` as an operator runs them:
the real command line, a SQLite store made by a broker, a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from ivoa_broker.protocol import Phase
from ivoa_broker.records import JobError, JobResult
from ivoa_broker.store import JobStore, OfferRow, OfferSetRow, StoredResult
from ivoa_broker.store.leases import Leases
from ivoa_broker.testing.postgres import PostgresServer
from tests.store.test_migrations import v1_database
from tests.stores import new_schema
from tests.test_store import T0, job


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivoa_broker.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def filled(path: Path) -> list[object]:
    """A SQLite store with jobs in several states, results, an offer set; what it holds."""
    store = await JobStore.open(path)
    try:
        for n in range(1, 8):
            await store.insert(job(n))
        await store.move("j002", [Phase.PENDING], Phase.ERROR, error=JobError("fatal", "boom"))
        await store.move("j003", [Phase.PENDING], Phase.ABORTED, abort_reason="why", released=T0)
        await store.update("j004", handle='{"native_id": "n4"}', platform="local")
        await store.update("j006", launch_intent='{"adapter": "local", "offer_id": "o"}')
        assert await Leases(store.db, "source-replica").acquire("dispatcher", 60, T0)
        await store.add_results("j005", [StoredResult(JobResult("out", "text/plain", 2**33), "/o")])
        offers = [
            OfferRow(f"o{i}", "s1", "alice", i, T0, "OFFERED", T0 + timedelta(days=1), {"i": i})
            for i in range(3)
        ]
        await store.insert_offerset(OfferSetRow("s1", "alice", T0, {"req": 1}), offers)
        return await snapshot(store)
    finally:
        await store.close()


async def snapshot(store: JobStore) -> list[object]:
    jobs = [await store.get(f"j{n:03d}") for n in range(1, 8)]
    return [
        jobs,
        await store.handle_of("j004"),
        await store.intent_of("j006"),
        await store.get_result("j005", "out"),
        await store.get_offerset("s1"),
        await store.offers_of("s1"),
    ]


async def test_copy_sqlite_to_postgresql(tmp_path: Path, postgres_server: PostgresServer) -> None:
    source = tmp_path / "broker.db"
    before = await filled(source)
    target = await new_schema(postgres_server)
    out = cli("copy-store", "--from", f"sqlite:///{source}", "--to", target)
    assert out.returncode == 0, out.stderr
    assert "7 jobs, 1 results, 1 offersets, 3 offers" in out.stdout
    copied = await JobStore.open(target)
    try:
        assert await snapshot(copied) == before
        # runtime state, not data: the target's first replica takes the lease at once
        assert await Leases(copied.db, "target").holder_of("dispatcher") is None
    finally:
        await copied.close()
    again = cli("copy-store", "--from", f"sqlite:///{source}", "--to", target)
    assert again.returncode == 1
    assert "not empty" in again.stderr  # nothing overwritten


async def test_migrate_command_upgrades_an_old_store(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_database(path)
    out = cli("migrate", "--store", str(path))
    assert out.returncode == 0, out.stderr
    assert "migrations applied: 2, 3, 4, 5, 6\n" in out.stdout
    again = cli("migrate", "--store", f"sqlite:///{path}")
    assert "none (up to date)" in again.stdout


async def test_migrate_command_on_postgresql_reads_the_config(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = await new_schema(postgres_server)
    config = tmp_path / "broker.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    out = cli("migrate", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "migrations applied: 1, 2, 3, 4, 5, 6\n" in out.stdout
