from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivoa_broker.eb import iso8601


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("PT60M", timedelta(hours=1)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("P2W", timedelta(weeks=2)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("pt10s", timedelta(seconds=10)),
        ("PT0S", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert iso8601.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "-PT1H", "PT", "P", "1H", "PT1H30", "P1DT", ""])
def test_bad_durations_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        iso8601.parse_duration(text)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=999_999)))
def test_duration_round_trip(value: timedelta) -> None:
    assert iso8601.parse_duration(iso8601.format_duration(value)) == value


def test_format_duration_is_short() -> None:
    assert iso8601.format_duration(timedelta(hours=2)) == "PT2H"
    assert iso8601.format_duration(timedelta(days=1, seconds=5)) == "P1DT5S"
    assert iso8601.format_duration(timedelta(0)) == "PT0S"


START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05Z/2026-01-02T05:04:05Z",
        "2026-01-02T03:04:05Z/PT2H",
        "PT2H/2026-01-02T05:04:05Z",
        "2026-01-02T04:04:05+01:00/PT2H",
    ],
)
def test_interval_forms(text: str) -> None:
    interval = iso8601.parse_interval(text)
    assert interval.start == START
    assert interval.duration == timedelta(hours=2)
    assert str(interval) == "2026-01-02T03:04:05Z/PT2H"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T05:04:05Z/2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05/PT1H",
        "R5/2026-01-02T03:04:05Z/PT1H",
        "PT1H/PT2H",
    ],
)
def test_bad_intervals_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"interval|instant|zone|duration"):
        iso8601.parse_interval(text)


def test_instants_need_a_zone_and_format_as_z() -> None:
    with pytest.raises(ValueError, match="zone"):
        iso8601.parse_instant("2026-01-02T03:04:05")
    assert iso8601.format_instant(iso8601.parse_instant("2026-01-02T04:04:05+01:00")) == (
        "2026-01-02T03:04:05Z"
    )
