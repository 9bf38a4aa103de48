"""Instants as UWS and DALI want them: UTC, ISO 8601, ``Z`` designator."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_instant"]


def format_instant(dt: datetime) -> str:
    """``dt`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, millisecond precision).

    Aware datetimes are converted to UTC; naive ones are taken as UTC already.
    Sub-millisecond digits are truncated, not rounded, so the result never
    lies after ``dt``.

    Built from the fields (every job list entry has an instant; ``strftime`` is the
    slow way). Years before 1000 keep ``strftime``'s form (the C library's ``%Y``: no
    zero padding on glibc), so the text is the same as it always was.
    """
    if dt.tzinfo is UTC:
        utc = dt
    elif dt.tzinfo is None:
        utc = dt.replace(tzinfo=UTC)
    else:
        utc = dt.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return (
        f"{utc.year}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
