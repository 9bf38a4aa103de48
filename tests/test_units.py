from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivoa_broker.units import db_instant, from_db_instant, parse_duration, parse_instant, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100),
        ("4GiB", 4 * 1024**3),
        ("4G", 4 * 1024**3),
        ("2GB", 2 * 10**9),
        ("512 MiB", 512 * 1024**2),
        ("1.5k", 1536),
        ("10b", 10),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["4 parsecs", "GiB", "-1G", "", "1e3"])
def test_parse_size_refuses_and_names_units(text: str) -> None:
    with pytest.raises(ValueError, match="GiB"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", 90),
        ("1h30m", 5400),
        ("2d", 172800),
        ("PT1H30M", 5400),
        ("P1DT1S", 86401),
        ("45s", 45),
    ],
)
def test_parse_duration(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "1h30", "P", "PT", "-5", "1x"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def test_parse_instant_forms() -> None:
    expected = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    assert parse_instant("2026-01-02T03:04:05.12Z") == expected
    assert parse_instant("2026-01-02T03:04:05.120000Z") == expected
    assert parse_instant("2026-01-02T03:04:05.12") == expected
    assert parse_instant("2026-01-02T04:04:05.12+01:00") == expected
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_instant("2026-01-02")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_instant("yesterday T")


def test_db_instant_sorts_and_round_trips() -> None:
    a = datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    b = datetime(2026, 1, 2, 3, 4, 5, 10, tzinfo=UTC)
    assert db_instant(a) < db_instant(b)
    assert from_db_instant(db_instant(b)) == b


def test_one_iso_duration_parser_for_uws_and_eb() -> None:
    """UWS parameters and EB documents share one ISO 8601 parser: weeks are
    accepted, a T with no time part after it (P1DT) is refused by both."""
    from ivoa_broker.eb import iso8601

    assert parse_duration("P1W") == 7 * 86400 == iso8601.parse_duration("P1W").total_seconds()
    assert parse_duration("P1DT2H") == 93600
    for bad in ("P1DT", "PT", "P", "P1Y", "P1M"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
        with pytest.raises(ValueError, match="duration"):
            iso8601.parse_duration(bad)


@pytest.mark.parametrize("text", ["9" * 400, "9" * 400 + "GiB", "9" * 31, "1" * 5000, "²", "١٢"])
def test_parse_size_of_many_digits_is_refused_not_overflowed(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    "text", ["9" * 400, "9" * 400 + "h", "9" * 40 + "d", "P" + "9" * 400 + "D", "1" * 5000]
)
def test_parse_duration_of_many_digits_is_refused_not_overflowed(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_parse_instant_outside_the_calendar(text: str) -> None:
    with pytest.raises(ValueError, match="outside the calendar"):
        parse_instant(text)
