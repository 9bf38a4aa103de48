"""The store's per-process caches (``store/cache.py``): job records and list entries."""

from __future__ import annotations

from datetime import UTC, datetime

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobSummary
from ivoa_broker.store.cache import JobCache, SummaryRows

CREATED = "2026-11-01T12:00:01.250000Z"


def record(job_id: str, phase: Phase = Phase.PENDING) -> Job:
    return Job(job_id=job_id, owner=None, phase=phase,
               creation_time=datetime(2026, 11, 1, tzinfo=UTC))


def test_a_read_is_cached_when_only_other_jobs_were_written_meanwhile() -> None:
    cache = JobCache(8)
    before = cache.writes
    cache.drop("j2")  # a write to another job while j1 was being read
    cache.drop("j3")
    cache.put(record("j1"), before)
    assert cache.get("j1") == record("j1")


def test_a_read_is_refused_when_its_job_was_written_meanwhile() -> None:
    cache = JobCache(8)
    before = cache.writes
    cache.drop("j1")
    cache.put(record("j1"), before)
    assert cache.get("j1") is None
    after = cache.writes  # a read that began after the write is fine
    cache.put(record("j1", Phase.QUEUED), after)
    assert cache.get("j1") == record("j1", Phase.QUEUED)


def test_a_forgotten_write_still_refuses_the_reads_it_could_have_staled() -> None:
    cache = JobCache(8, remembered=2)
    before = cache.writes
    cache.drop("j1")
    cache.drop("j2")
    cache.drop("j3")  # j1's write is forgotten now: the floor rises above it
    cache.put(record("j1"), before)
    assert cache.get("j1") is None
    cache.put(record("j1"), cache.writes)
    assert cache.get("j1") is not None


def test_clear_refuses_every_read_in_flight() -> None:
    cache = JobCache(8)
    cache.put(record("j1"), cache.writes)
    before = cache.writes
    cache.clear()
    assert len(cache) == 0
    cache.put(record("j2"), before)
    assert cache.get("j2") is None


def test_a_row_becomes_its_summary() -> None:
    (summary,) = SummaryRows().of([("j1", "EXECUTING", CREATED, "run 1", "alice")])
    assert summary == JobSummary(
        "j1", Phase.EXECUTING, datetime(2026, 11, 1, 12, 0, 1, 250000, tzinfo=UTC), "run 1", "alice"
    )


def test_the_same_row_gives_the_same_entry_and_a_changed_one_a_new_entry() -> None:
    rows = SummaryRows()
    first = rows.of(
        [("j1", "PENDING", CREATED, None, None), ("j2", "PENDING", CREATED, None, None)]
    )
    again = rows.of(
        [("j2", "PENDING", CREATED, None, None), ("j1", "PENDING", CREATED, None, None)]
    )
    assert again[0] is first[1] and again[1] is first[0]
    # every column of the row is in the key: each change shows
    for changed in [
        ("j1", "COMPLETED", CREATED, None, None),
        ("j1", "PENDING", "2026-11-01T12:00:02.000000Z", None, None),
        ("j1", "PENDING", CREATED, "r", None),
        ("j1", "PENDING", CREATED, None, "bob"),
    ]:
        (now,) = rows.of([changed])
        assert now is not first[0]
        assert (now.phase.value, now.run_id, now.owner) == (changed[1], changed[3], changed[4])
        assert now.creation_time == datetime.fromisoformat(changed[2])


def test_it_is_bounded_and_size_zero_keeps_nothing() -> None:
    rows = SummaryRows(size=10)
    for n in range(50):
        rows.of([(f"j{n}", "PENDING", CREATED, None, None)])
    assert len(rows) == 10
    none = SummaryRows(size=0)
    assert [s.job_id for s in none.of([("a", "QUEUED", CREATED, None, None)])] == ["a"]
    assert len(none) == 0
