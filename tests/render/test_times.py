from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ivoa_broker.render import format_instant

from .xmlread import INSTANT_RE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 24, 14, 5, 6, 123456, tzinfo=UTC), "2026-11-24T14:05:06.123Z"),
        # naive = already UTC
        (datetime(2026, 11, 24, 14, 5, 6, 123456), "2026-11-24T14:05:06.123Z"),
        # other offsets are converted, across a day boundary
        (
            datetime(2026, 11, 25, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-24T23:00:00.000Z",
        ),
        (
            datetime(2026, 11, 24, 20, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2026-11-25T02:00:00.000Z",
        ),
        # milliseconds are truncated, never rounded up into the next second
        (datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC), "2026-11-24T23:59:59.999Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 7000, tzinfo=UTC), "2026-01-02T03:04:05.007Z"),
    ],
)
def test_format_instant(value: datetime, expected: str) -> None:
    assert format_instant(value) == expected


def test_format_instant_matches_uws_pattern_and_round_trips() -> None:
    now = datetime.now(UTC)
    text = format_instant(now)
    assert re.match(INSTANT_RE, text)
    parsed = datetime.fromisoformat(text)
    assert timedelta(0) <= now - parsed < timedelta(milliseconds=1)


def _with_strftime(dt: datetime) -> str:
    """format_instant as first written (strftime), the reference."""
    utc = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _random_instant(rng: random.Random) -> datetime:
    year = rng.choice([rng.randint(1, 9999), rng.randint(1970, 2100), rng.randint(1, 999)])
    value = datetime(
        year,
        rng.randint(1, 12),
        rng.randint(1, 28),
        rng.randint(0, 23),
        rng.randint(0, 59),
        rng.randint(0, 59),
        rng.choice([0, 999, 999999, rng.randint(0, 999999)]),
    )
    zone = rng.randrange(4)
    if zone == 0:
        return value  # naive: taken as UTC
    if zone == 1:
        return value.replace(tzinfo=UTC)
    offset = timedelta(
        minutes=rng.randint(-23 * 60 - 59, 23 * 60 + 59),
        seconds=rng.choice([0, rng.randint(0, 59)]),
        microseconds=rng.choice([0, rng.randint(0, 999999)]),
    )
    tz = timezone(offset) if zone == 2 else ZoneInfo(rng.choice(ZONES))
    return value.replace(tzinfo=tz)


ZONES = ["Europe/Berlin", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham", "UTC"]


def test_format_instant_is_the_strftime_text_for_200k_random_instants() -> None:
    rng = random.Random(24)
    compared = 0
    for _ in range(200_000):
        value = _random_instant(rng)
        try:
            expected = _with_strftime(value)
        except (OverflowError, ValueError) as exc:  # no UTC form inside the calendar
            with pytest.raises(type(exc)):
                format_instant(value)
            continue
        assert format_instant(value) == expected, repr(value)
        compared += 1
    assert compared > 199_000


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(1000, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # to year 999
    ],
)
def test_format_instant_at_the_ends_of_the_calendar(value: datetime) -> None:
    assert format_instant(value) == _with_strftime(value)
