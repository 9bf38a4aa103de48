from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

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
