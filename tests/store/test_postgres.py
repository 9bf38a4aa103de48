"""What only PostgreSQL does: several processes on one database. Two stores in one
test stand for two replicas (each its own pool, cache and listening connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job
from ivoa_broker.store import JobStore, OfferRow, OfferSetRow
from ivoa_broker.testing.postgres import PostgresServer
from tests.stores import new_schema
from tests.test_store import T0, _owner_lists, job, reads_sent


@pytest.fixture
async def url(postgres_server: PostgresServer) -> str:
    return await new_schema(postgres_server)


@pytest.fixture
async def pair(url: str) -> AsyncIterator[tuple[JobStore, JobStore]]:
    a, b = await asyncio.gather(JobStore.open(url), JobStore.open(url))  # migrate together
    yield a, b
    await asyncio.gather(a.close(), b.close())


class Heard:
    def __init__(self, store: JobStore) -> None:
        self.ids: list[str] = []
        self._changed = asyncio.Condition()
        store.on_change(self._hear)

    def _hear(self, changed: str) -> None:
        self.ids.append(changed)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, changed: str) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: changed in self.ids), 10)


async def test_own_writes_are_not_heard_back(pair: tuple[JobStore, JobStore]) -> None:
    a, b = pair
    mine, theirs = Heard(a), Heard(b)
    await a.insert(job(1))
    await b.insert(job(2))
    await asyncio.gather(mine.until("j002"), theirs.until("j001"))
    assert (mine.ids, theirs.ids) == (["j002"], ["j001"])


async def test_a_write_on_one_replica_drops_the_others_cache(
    pair: tuple[JobStore, JobStore],
) -> None:
    a, b = pair
    heard = Heard(b)
    await a.insert(job(1))
    await heard.until("j001")
    assert (await b.get("j001")).phase is Phase.PENDING  # type: ignore[union-attr]
    assert b.cache.get("j001") is not None  # cached on b now
    heard.ids.clear()
    assert await a.move("j001", [Phase.PENDING], Phase.QUEUED)
    await heard.until("j001")
    assert b.cache.get("j001") is None
    assert (await b.get("j001")).phase is Phase.QUEUED  # type: ignore[union-attr]


async def test_results_and_offers_are_heard_too(pair: tuple[JobStore, JobStore]) -> None:
    a, b = pair
    heard = Heard(b)
    await a.insert(job(1))
    await heard.until("j001")
    await b.get("j001")
    heard.ids.clear()
    from ivoa_broker.records import JobResult
    from ivoa_broker.store import StoredResult

    await a.add_results("j001", [StoredResult(JobResult("out"), "/o")])
    assert await a.update("j001", handle="{}")  # stales caches, wakes no one
    assert await a.move("j001", [Phase.PENDING], Phase.QUEUED)  # wakes: heard in order
    await heard.until("j001")
    assert heard.ids == ["j001"]
    assert [r.id for r in (await b.get("j001")).results] == ["out"]  # type: ignore[union-attr]
    await a.insert_offerset(offerset("s1"), [offer("o1", "s1", 0)])
    await heard.until("o1")


def offerset(set_id: str) -> OfferSetRow:
    return OfferSetRow(set_id, "alice", T0, {"request": 1})


def offer(offer_id: str, set_id: str, seq: int) -> OfferRow:
    return OfferRow(offer_id, set_id, "alice", seq, T0, "OFFERED", T0 + timedelta(days=9), {})


async def test_one_offer_accepted_on_two_replicas_at_once_has_one_winner(
    pair: tuple[JobStore, JobStore],
) -> None:
    a, b = pair
    for n in range(10):
        s = f"s{n}"
        await a.insert_offerset(offerset(s), [offer(f"o{n}", s, 0), offer(f"p{n}", s, 1)])
    for n in range(10):
        queued = Job(f"o{n}", "alice", Phase.QUEUED, T0)
        other = Job(f"p{n}", "alice", Phase.QUEUED, T0)
        outcomes = await asyncio.gather(
            a.accept_offer(f"o{n}", queued, T0),
            b.accept_offer(f"o{n}", queued, T0),
            b.accept_offer(f"p{n}", other, T0),
        )
        # o and its sibling p race too: whichever wins, the other two calls lose
        assert set(outcomes) - {None} <= {"ACCEPTED", "REJECTED"}
        winners = [o for o in outcomes if o is None]
        assert len(winners) == 1
        assert await a.count() == n + 1  # exactly one job per offer set


async def test_lost_listening_connection_is_remade_and_says_so(
    pair: tuple[JobStore, JobStore], postgres_server: PostgresServer
) -> None:
    a, b = pair
    heard = Heard(b)
    await b.insert(job(9))
    await b.get("j009")
    postgres_server.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE query LIKE 'LISTEN%' AND pid != pg_backend_pid()",
        "broker",
    )
    await heard.until("*")  # every waiter looks again, the cache is emptied
    assert b.cache.get("j009") is None
    heard.ids.clear()
    await a.move("j009", [Phase.PENDING], Phase.QUEUED, run_id="after")
    await heard.until("j009")
    assert (await b.get("j009")).run_id == "after"  # type: ignore[union-attr]


async def test_an_unreachable_database_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivoa_broker.store import StoreError, postgres
    from tests.server import free_port

    monkeypatch.setattr(postgres, "CONNECT_PATIENCE", 0.5)
    url = f"postgresql://broker:pw-not-shown@127.0.0.1:{free_port()}/x"
    with pytest.raises(StoreError, match="cannot open job store") as caught:
        await JobStore.open(url)
    assert "pw-not-shown" not in str(caught.value)


async def test_the_job_lists_are_read_from_their_indexes_in_order(url: str) -> None:
    """Migration 6's indexes serve the store's own list queries on PostgreSQL too.

    With the planner's statistics taken (as autovacuum would) and sequential scans
    and sorts priced out (on a table this small either is cheap), every
    list is an index scan. A list of every phase but ARCHIVED (the paged list a
    client polls) is read in the order asked, with no sort: an owner's from
    ``jobs_owner_list`` or, where the owner has a large share of the jobs (the
    planner's choice), from ``jobs_created_id`` with a filter; every owner's from
    ``jobs_created_id``. A list of chosen phases may take ``jobs_owner_phase_created``
    and sort what it found (the planner's choice for a few rows)."""
    store = await JobStore.open(url)
    try:
        for n in range(1, 60):
            await store.insert(job(n, owner="alice" if n % 3 else None))

        async def every_owners(store: JobStore) -> None:
            await store.list_every_job(phases=None, after=None, limit=100)
            await store.list_every_job(phases=None, after=T0, limit=100)

        sent = await reads_sent(store, _owner_lists)
        owners = len(sent)
        sent += await reads_sent(store, every_owners)
        assert owners == 24 and len(sent) == 26
        await store.db.execute("ANALYZE jobs")  # as autovacuum would: the planner's statistics
        for i, (sql, args) in enumerate(sent):
            async with store.db.transaction() as tx:
                await tx.execute("SET LOCAL enable_seqscan = off")
                await tx.execute("SET LOCAL enable_sort = off")
                plan = "\n".join(str(r[0]) for r in await tx.rows("EXPLAIN " + sql, args))
            assert "Seq Scan" not in plan and "Index" in plan, (sql, plan)
            if "phase IN" not in sql:
                ordered = ("using jobs_owner_list", "using jobs_created_id")
                if i >= owners:
                    ordered = ("using jobs_created_id",)
                assert any(index in plan for index in ordered), (sql, plan)
                assert "Sort" not in plan, (sql, plan)
    finally:
        await store.close()
