"""Instants as UWS and DALI want them: UTC, ISO 8601, ``Z`` designator."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_instant"]


def format_instant(dt: datetime) -> str:
    """``dt`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, millisecond precision).

    Aware datetimes are converted to UTC; naive ones are taken as UTC already.
    Sub-millisecond digits are truncated, not rounded, so the result never
    lies after ``dt``.
    """
    utc = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
