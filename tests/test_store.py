from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, Parameter
from ivoa_broker.store import JobEnd, JobStore, StoredResult

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[JobStore]:
    s = await JobStore.open(tmp_path / "jobs.db")
    yield s
    await s.close()


def job(n: int, owner: str | None = "alice", phase: Phase = Phase.PENDING) -> Job:
    return Job(
        job_id=f"j{n:03d}",
        owner=owner,
        phase=phase,
        creation_time=T0 + timedelta(seconds=n),
        parameters=(Parameter("cmd", "echo"), Parameter("args", f"<{n}>&")),
        destruction=T0 + timedelta(days=1),
    )


async def test_round_trip(store: JobStore) -> None:
    await store.insert(job(1))
    got = await store.get("j001")
    assert got == job(1)
    assert await store.get("nope") is None


async def test_wal_and_indexes(sqlite_store: JobStore) -> None:
    assert (await sqlite_store.db.rows("PRAGMA journal_mode"))[0][0] == "wal"
    rows = await sqlite_store.db.rows(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'"
    )
    names = {r[0] for r in rows}
    assert {"jobs_owner_list", "jobs_created_id", "jobs_owner_phase_created", "jobs_phase"} <= names
    # superseded by the two covering/ordering indexes of migration 6
    assert not {"jobs_owner_created", "jobs_created"} & names


async def test_list_filters_in_sql(store: JobStore) -> None:
    for n in range(1, 11):
        phase = [Phase.PENDING, Phase.COMPLETED, Phase.ERROR, Phase.ARCHIVED][n % 4]
        await store.insert(job(n, phase=phase))
    await store.insert(job(50, owner="bob"))
    everyone = await store.list_jobs("alice", phases=None, after=None, last=None, limit=100)
    assert [j.job_id for j in everyone] == [f"j{n:03d}" for n in range(10, 0, -1) if n % 4 != 3]
    completed = await store.list_jobs(
        "alice", phases=[Phase.COMPLETED, Phase.ERROR], after=None, last=None, limit=100
    )
    assert {j.phase for j in completed} == {Phase.COMPLETED, Phase.ERROR}
    archived = await store.list_jobs(
        "alice", phases=[Phase.ARCHIVED], after=None, last=None, limit=100
    )
    assert [j.job_id for j in archived] == ["j007", "j003"]
    last2 = await store.list_jobs("alice", phases=None, after=None, last=2, limit=100)
    assert [j.job_id for j in last2] == ["j010", "j009"]
    after = await store.list_jobs(
        "alice", phases=None, after=T0 + timedelta(seconds=8), last=None, limit=100
    )
    assert [j.job_id for j in after] == ["j010", "j009"]
    assert [
        j.job_id
        for j in await store.list_jobs("bob", phases=None, after=None, last=None, limit=100)
    ] == ["j050"]


async def reads_sent(store: JobStore, work: Any) -> list[tuple[str, list[Any]]]:
    """(SQL, arguments) of each read the store sends to its database while
    ``await work(store)`` runs."""
    sent: list[tuple[str, list[Any]]] = []
    rows = store.db.rows

    async def recording(sql: str, args: Any = ()) -> list[Any]:
        sent.append((sql, list(args)))
        return await rows(sql, args)

    store.db.rows = recording  # type: ignore[method-assign]
    try:
        await work(store)
    finally:
        store.db.rows = rows  # type: ignore[method-assign]
    return sent


async def _plans_of_the_lists(store: JobStore, lists: Any) -> list[tuple[str, str]]:
    """(SQL, query plan) of each list query the store itself sends."""
    sent = await reads_sent(store, lists)
    assert sent
    return [
        (sql, " ".join(str(r[3]) for r in await store.db.rows("EXPLAIN QUERY PLAN " + sql, args)))
        for sql, args in sent
    ]


async def _owner_lists(store: JobStore) -> None:
    for owner in ("alice", None):
        for phases in (None, [Phase.COMPLETED], [Phase.COMPLETED, Phase.ERROR]):
            for after in (None, T0):
                for last in (None, 100):
                    await store.list_jobs(owner, phases=phases, after=after, last=last, limit=1000)


async def test_an_owners_job_list_is_read_from_the_covering_index(
    sqlite_store: JobStore,
) -> None:
    for n in range(1, 60):
        await sqlite_store.insert(job(n, owner="alice" if n % 3 else None))
    plans = await _plans_of_the_lists(sqlite_store, _owner_lists)
    assert len(plans) == 24
    for sql, plan in plans:
        assert "COVERING INDEX jobs_owner_list" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)  # in index order: no sort step


async def test_every_owners_job_list_is_read_in_index_order(sqlite_store: JobStore) -> None:
    for n in range(1, 60):
        await sqlite_store.insert(job(n, owner=f"o{n % 5}"))

    async def lists(store: JobStore) -> None:
        await store.list_every_job(phases=None, after=None, limit=100)
        await store.list_every_job(phases=None, after=T0, limit=100)

    for sql, plan in await _plans_of_the_lists(sqlite_store, lists):
        assert "jobs_created_id" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)


async def test_the_lists_are_newest_first_then_by_job_id(store: JobStore) -> None:
    """The order the indexes give: creation time, ties by job id (both descending)."""
    for n in (1, 2, 3):
        await store.insert(replace(job(n), creation_time=T0))
    await store.insert(replace(job(4), creation_time=T0 - timedelta(seconds=1)))
    listed = await store.list_jobs("alice", phases=None, after=None, last=None, limit=10)
    assert [j.job_id for j in listed] == ["j003", "j002", "j001", "j004"]
    every = await store.list_every_job(phases=None, after=None, limit=10)
    assert [j.job_id for j in every] == ["j003", "j002", "j001", "j004"]


async def test_move_is_compare_and_set(store: JobStore) -> None:
    await store.insert(job(1))
    assert await store.move("j001", [Phase.PENDING], Phase.QUEUED)
    assert not await store.move("j001", [Phase.PENDING], Phase.QUEUED)
    assert await store.move(
        "j001",
        [Phase.QUEUED],
        Phase.ERROR,
        error=JobError("fatal", "boom", "detail"),
        end_time=T0,
    )
    got = await store.get("j001")
    assert got is not None
    assert got.error == JobError("fatal", "boom", "detail")
    assert got.end_time == T0


async def test_record_ends_stores_results_and_moves_each_job_in_one_go(store: JobStore) -> None:
    for n in (1, 2, 3):
        await store.insert(job(n, phase=Phase.EXECUTING))
    assert await store.move("j003", [Phase.EXECUTING], Phase.ABORTED)
    assert await store.get("j001") is not None  # cached: the ends must drop it
    out = StoredResult(JobResult("stdout", "text/plain", 3), path="/tmp/out")
    moved = await store.record_ends(
        [
            JobEnd("j002", (Phase.EXECUTING,), Phase.ERROR, {"error": JobError("fatal", "x")}),
            JobEnd("j001", (Phase.EXECUTING,), Phase.COMPLETED, {"end_time": T0}, (out,)),
            # not EXECUTING any more: no move, but its results are stored all the same
            JobEnd("j003", (Phase.EXECUTING,), Phase.COMPLETED, {}, (out,)),
            JobEnd("j002", (), Phase.COMPLETED, {}, (out,)),  # results only
        ]
    )
    assert moved == [True, True, False, False]
    one, two, three = [await store.get(f"j00{n}") for n in (1, 2, 3)]
    assert one is not None and two is not None and three is not None
    assert (one.phase, one.end_time, [r.id for r in one.results]) == (
        Phase.COMPLETED,
        T0,
        ["stdout"],
    )
    assert two.phase is Phase.ERROR and two.error == JobError("fatal", "x")
    assert [r.id for r in two.results] == ["stdout"]
    assert three.phase is Phase.ABORTED and [r.id for r in three.results] == ["stdout"]
    assert await store.record_ends([]) == []


async def test_results_and_delete(store: JobStore) -> None:
    await store.insert(job(1))
    await store.add_results(
        "j001",
        [
            StoredResult(JobResult("stdout", "text/plain", 3), path="/tmp/x"),
            StoredResult(JobResult("ext", href="https://example.org/r")),
        ],
    )
    await store.add_results("j001", [StoredResult(JobResult("stdout", "text/plain", 5), "/y")])
    got = await store.get("j001")
    assert got is not None
    assert [r.id for r in got.results] == ["stdout", "ext"]
    assert got.results[0].size == 5
    # new ones go after the old, in the order given; an update keeps its place
    await store.add_results(
        "j001",
        [StoredResult(JobResult(n), "/z") for n in ("c", "ext", "b", "a")],
    )
    got = await store.get("j001")
    assert got is not None
    assert [r.id for r in got.results] == ["stdout", "ext", "c", "b", "a"]
    stored = await store.get_result("j001", "stdout")
    assert stored is not None
    assert stored.path == "/y"
    assert await store.delete("j001")
    assert await store.get_result("j001", "stdout") is None


async def test_deadlines(store: JobStore) -> None:
    await store.insert(job(1))
    await store.update("j001", run_deadline=T0 + timedelta(seconds=5))
    assert await store.next_deadline() == T0 + timedelta(seconds=5)
    assert await store.overrun(T0) == []
    assert await store.overrun(T0 + timedelta(seconds=6)) == ["j001"]
    assert await store.expired(T0 + timedelta(days=2)) == ["j001"]


async def test_survives_reopen(tmp_path: Path, store_url: str | None) -> None:
    s = await JobStore.open(store_url or tmp_path / "x.db")
    await s.insert(job(1))
    await s.close()
    s2 = await JobStore.open(store_url or tmp_path / "x.db")
    assert await s2.get("j001") == job(1)
    await s2.close()


async def test_cache_stays_coherent_under_concurrent_reads_and_writes(
    tmp_path: Path, store_url: str | None
) -> None:
    import asyncio
    import random

    where = store_url or tmp_path / "c.db"
    store = await JobStore.open(where, cache_size=4)
    try:
        for n in range(8):
            await store.insert(job(n))
        rng = random.Random(7)

        async def writer() -> None:
            for i in range(200):
                jid = f"j{rng.randrange(8):03d}"
                await store.update(jid, run_id=f"r{i}")
                if i % 50 == 0:
                    await store.add_results(jid, [StoredResult(JobResult(f"x{i}"), "/p")])

        async def reader() -> None:
            for _ in range(400):
                await store.get(f"j{rng.randrange(8):03d}")

        await asyncio.gather(writer(), reader(), reader())
        fresh = await JobStore.open(where, cache_size=0)
        try:
            for n in range(8):
                assert await store.get(f"j{n:03d}") == await fresh.get(f"j{n:03d}")
        finally:
            await fresh.close()
        assert len(store.cache) <= 4
    finally:
        await store.close()


async def test_concurrent_cache_misses_are_read_together(
    tmp_path: Path, store_url: str | None
) -> None:
    import asyncio

    where = store_url or tmp_path / "g.db"
    store = await JobStore.open(where, cache_size=0)  # every read a miss
    try:
        for n in range(20):
            await store.insert(job(n))
        ids = [f"j{n % 20:03d}" for n in range(60)] + ["nope"]
        got: list[Job | None] = []

        async def read_all(store: JobStore) -> None:
            got.extend(await asyncio.gather(*(store.get(i) for i in ids)))

        queries = [args for _, args in await reads_sent(store, read_all)]
        assert got[:-1] == [job(n % 20) for n in range(60)] and got[-1] is None
        assert len(queries) < 5, queries  # the first alone, then the rest together
        assert sorted({i for q in queries for i in q}) == sorted(set(ids))
    finally:
        await store.close()


async def test_a_read_after_a_write_sees_it_while_a_gathered_read_is_in_flight(
    store: JobStore,
) -> None:
    import asyncio

    await store.insert(job(1))
    await store.insert(job(2))
    store.cache.clear()
    in_flight = asyncio.create_task(store.get("j002"))  # its query starts before the write
    await asyncio.sleep(0)
    await store.update("j001", run_id="after")
    assert (await store.get("j001")).run_id == "after"  # type: ignore[union-attr]
    assert await in_flight == job(2)
    assert (await store.get("j001")).run_id == "after"  # type: ignore[union-attr]


async def test_cache_sees_every_kind_of_write(store: JobStore) -> None:
    await store.insert(job(1))
    assert (await store.get("j001")).phase is Phase.PENDING  # type: ignore[union-attr]
    await store.move("j001", [Phase.PENDING], Phase.QUEUED)
    assert (await store.get("j001")).phase is Phase.QUEUED  # type: ignore[union-attr]
    await store.add_results("j001", [StoredResult(JobResult("a"), "/a")])
    assert [r.id for r in (await store.get("j001")).results] == ["a"]  # type: ignore[union-attr]
    await store.drop_results("j001")
    assert (await store.get("j001")).results == ()  # type: ignore[union-attr]
    await store.delete("j001")
    assert await store.get("j001") is None


async def test_owner_none_lists_ownerless_jobs_only(store: JobStore) -> None:
    await store.insert(job(1, owner=None))
    await store.insert(job(2, owner="alice"))
    listed = await store.list_jobs(None, phases=None, after=None, last=None, limit=10)
    assert [j.job_id for j in listed] == ["j001"]


async def test_typed_update_sets_lifecycle_columns(store: JobStore) -> None:
    await store.insert(job(1))
    assert await store.move("j001", [Phase.PENDING], Phase.ABORTED, abort_reason="why")
    got = await store.get("j001")
    assert got is not None
    assert (got.abort_reason, got.released, dict(got.job_info)) == ("why", None, {})
    [live] = await store.unreleased_aborts() or [None]  # no handle yet: not watched
    assert live is None
    await store.update("j001", handle="{}", platform="p", cancel_requested=True)
    assert [j.job_id for j in await store.unreleased_aborts()] == ["j001"]
    await store.update("j001", released=T0)
    assert (await store.get("j001")).released == T0  # type: ignore[union-attr]
    assert await store.unreleased_aborts() == []
    assert not await store.update("nope", run_id="x")


async def test_update_refuses_names_that_are_not_columns(store: JobStore) -> None:
    await store.insert(job(1))
    with pytest.raises(TypeError, match="not a job column"):
        await store.update("j001", **{"phase = 'X', owner": "mallory"})  # type: ignore[arg-type]
    assert (await store.get("j001")).owner == "alice"  # type: ignore[union-attr]


async def test_result_sizes_beyond_32_bits(store: JobStore) -> None:
    await store.insert(job(1))
    big = 5 * 2**32
    await store.add_results("j001", [StoredResult(JobResult("big", "x/y", big), "/b")])
    assert (await store.get("j001")).results[0].size == big  # type: ignore[union-attr]


async def test_launch_intent_round_trip_survives_reopen(
    tmp_path: Path, store_url: str | None
) -> None:
    """The launch intent is written before submit and read after a crash: it must
    outlive the process that wrote it, and be kept apart from the Handle."""
    where = store_url or tmp_path / "i.db"
    first = await JobStore.open(where)
    await first.insert(job(1, phase=Phase.QUEUED))
    await first.insert(job(2, phase=Phase.QUEUED))
    assert await first.intent_of("j001") is None
    intent = '{"adapter": "slurm-a", "offer_id": "o1"}'
    assert await first.move("j001", [Phase.QUEUED], Phase.QUEUED, launch_intent=intent)
    assert not await first.move("j002", [Phase.EXECUTING], Phase.QUEUED, launch_intent=intent)
    await first.close()
    second = await JobStore.open(where)
    try:
        assert await second.intent_of("j001") == intent
        assert await second.intent_of("j002") is None  # the compare-and-set refused it
        assert await second.intent_of("nope") is None
        assert await second.handle_of("j001") == (None, None)
        assert await second.update("j001", launch_intent=None)
        assert await second.intent_of("j001") is None
    finally:
        await second.close()


async def test_job_ids_names_the_jobs_that_may_own_a_task(store: JobStore) -> None:
    """The orphan sweep keeps the tasks of these: a Handle, or still QUEUED (a submit
    may be on its way); an ended job without a Handle owns none."""
    for n, phase in enumerate(
        [Phase.QUEUED, Phase.EXECUTING, Phase.ABORTED, Phase.ABORTED, Phase.ARCHIVED], 1
    ):
        await store.insert(job(n, phase=phase))
    for jid in ("j002", "j004", "j005"):
        await store.update(jid, handle=f'{{"native_id": "n-{jid}"}}')
    ids = ["j001", "j002", "j003", "j004", "j005", "nope"]
    assert await store.job_ids(ids) == {"j001", "j002", "j004"}


async def test_an_accepted_offer_is_the_launch_intent_of_its_job(store: JobStore) -> None:
    """In the accept's own transaction: no moment where the job exists without it."""
    from ivoa_broker.store import OfferRow, OfferSetRow

    offers = [
        OfferRow(f"o{i}", "s1", "alice", i, T0, "OFFERED", T0 + timedelta(days=1), {"i": i})
        for i in range(2)
    ]
    await store.insert_offerset(OfferSetRow("s1", "alice", T0, {}), offers)
    intent = '{"adapter": "b", "offer_id": "x"}'
    accepted = replace(job(1, phase=Phase.QUEUED), job_id="o1")
    assert await store.accept_offer("o1", accepted, T0, intent) is None
    assert await store.intent_of("o1") == intent
    assert await store.accept_offer("o1", accepted, T0, "other") == "ACCEPTED"
    assert await store.intent_of("o1") == intent  # a refused accept writes nothing


async def test_a_listed_job_shows_its_change_in_the_next_list(store: JobStore) -> None:
    """List entries are kept by their whole row: a write shows in the next list."""
    await store.insert(job(1))
    await store.insert(job(2))

    async def listed() -> list[tuple[str, Phase, str | None]]:
        found = await store.list_jobs("alice", phases=None, after=None, last=None, limit=10)
        every = await store.list_every_job(phases=None, after=None, limit=10)
        assert every == found
        return [(j.job_id, j.phase, j.run_id) for j in found]

    assert await listed() == [("j002", Phase.PENDING, None), ("j001", Phase.PENDING, None)]
    assert await store.move("j001", [Phase.PENDING], Phase.QUEUED)
    assert await listed() == [("j002", Phase.PENDING, None), ("j001", Phase.QUEUED, None)]
    assert await store.update("j002", run_id="again")
    assert await listed() == [("j002", Phase.PENDING, "again"), ("j001", Phase.QUEUED, None)]
    assert await store.delete("j002")
    assert await listed() == [("j001", Phase.QUEUED, None)]
