"""Parsing of sizes, durations and instants given by clients."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ivoa_broker.eb import iso8601

# ASCII digits only, at most 30 before the point: a client's number never overflows a float
_SIZE = re.compile(r"^\s*([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([A-Za-z]*)\s*$", re.ASCII)
_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
SIZE_UNITS_HELP = (
    "a number of bytes with an optional unit: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"
    " (K, M, G, T mean KiB, MiB, GiB, TiB)"
)

_DURATION_PART = re.compile(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)([dhms])", re.ASCII)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_HELP = (
    "whole seconds (3600), a sum of d/h/m/s parts (1h30m) or an ISO 8601 duration (PT1H30M, P1W)"
)


def parse_size(text: str) -> int:
    """'4GiB' -> 4294967296. Raises ValueError naming the accepted units."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size; give {SIZE_UNITS_HELP}")
    number, unit = match.groups()
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown unit {unit!r} in {text!r}; give {SIZE_UNITS_HELP}")
    return int(float(number) * factor)


def parse_duration(text: str) -> int:
    """'90' / '1h30m' / 'PT1H30M' -> seconds. Raises ValueError."""
    value = text.strip()
    if re.fullmatch(r"[0-9]{1,30}", value):
        return int(value)
    if value[:1] in ("P", "p"):  # ISO 8601: the broker's one parser (P1W yes, P1DT no)
        try:
            return int(iso8601.parse_duration(value).total_seconds())
        except ValueError:
            raise ValueError(f"{text!r} is not a duration; give {DURATION_HELP}") from None
    parts = _DURATION_PART.findall(value.lower())
    if parts and "".join(n + u for n, u in parts) == value.lower():
        return int(sum(float(n) * _SECONDS[u] for n, u in parts))
    raise ValueError(f"{text!r} is not a duration; give {DURATION_HELP}")


def parse_instant(text: str) -> datetime:
    """ISO 8601 instant -> aware UTC datetime. A missing zone means UTC.

    Raises ``ValueError`` only: an instant whose UTC form falls outside the calendar
    (``0001-01-01T00:00:00+01:00``) is out of range, not a crash."""
    value = text.strip()
    if "T" not in value or len(value) > 64:
        raise ValueError(f"{text[:64]!r} is not an ISO 8601 instant like 2026-01-02T03:04:05Z")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{text[:64]!r} is not an ISO 8601 instant like 2026-01-02T03:04:05.000Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text[:64]!r} is outside the calendar (years 1..9999 in UTC)") from None


def db_instant(value: datetime) -> str:
    """Fixed-width, lexicographically sortable UTC text for the store."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db_instant(text: str) -> datetime:
    """Inverse of :func:`db_instant` (fromisoformat is C code, strptime is not)."""
    return datetime.fromisoformat(text)
