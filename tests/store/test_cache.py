"""The store's per-process caches (``store/cache.py``): the job list entries."""

from __future__ import annotations

from datetime import UTC, datetime

from ivoa_broker.protocol import Phase
from ivoa_broker.records import JobSummary
from ivoa_broker.store.cache import SummaryRows

CREATED = "2026-11-01T12:00:01.250000Z"


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
