"""ISO 8601 durations, instants and intervals as the ExecutionBroker uses them.

Durations are limited to the exact designators (weeks, days, hours, minutes,
seconds): years and months have no fixed length and are refused. Instants must
carry a time zone. Intervals are ``start/end``, ``start/duration`` or
``duration/end`` (no repeats), as the LaTeX draft allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "Interval",
    "format_duration",
    "format_instant",
    "parse_duration",
    "parse_instant",
    "parse_interval",
]

# The one ISO 8601 duration parser of the broker (UWS parameters use it too).
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<w>\d{1,6})W)?(?:(?P<d>\d{1,6})D)?"
    r"(?:T(?=\d)(?:(?P<h>\d{1,8})H)?(?:(?P<m>\d{1,9})M)?(?:(?P<s>\d{1,10})(?:[.,](?P<f>\d{1,6}))?S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """``PT1H30M`` / ``P1W`` -> ``timedelta``. Raises ``ValueError`` (no negatives,
    no years or months, a ``T`` must be followed by a time part: ``P1DT`` is refused)."""
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise ValueError(
            f"not an ISO 8601 duration of weeks/days/hours/minutes/seconds: {text[:64]!r}"
        )
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items() if k != "f"}
    fraction = match.group("f") or ""
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return timedelta(
            weeks=parts["w"],
            days=parts["d"],
            hours=parts["h"],
            minutes=parts["m"],
            seconds=parts["s"],
            microseconds=micro,
        )
    except OverflowError:
        raise ValueError(f"duration out of range: {text[:64]!r}") from None


def format_duration(value: timedelta) -> str:
    """``timedelta`` -> the shortest ``PnDTnHnMnS`` form (``PT0S`` for zero)."""
    if value < timedelta(0):
        raise ValueError("negative durations have no ISO 8601 form here")
    days = value.days
    seconds = value.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if secs or value.microseconds:
        time += f"{secs}.{value.microseconds:06d}".rstrip("0").rstrip(".") + "S"
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with a zone (``Z`` or an offset) -> aware UTC ``datetime``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 instant: {text[:64]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"instant without a time zone: {text[:64]!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC form
        raise ValueError(f"instant outside the calendar in UTC: {text[:64]!r}") from None


def format_instant(value: datetime) -> str:
    """Aware ``datetime`` -> ``2026-01-02T03:04:05Z`` (microseconds kept if present)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


@dataclass(frozen=True)
class Interval:
    """A closed time interval ``[start, end]`` (aware UTC datetimes)."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{format_instant(self.start)}/{format_duration(self.duration)}"


def parse_interval(text: str) -> Interval:
    """``start/end``, ``start/duration`` or ``duration/end`` -> :class:`Interval`."""
    first, sep, second = text.strip().partition("/")
    if not sep or "/" in second:
        raise ValueError(f"not an ISO 8601 interval: {text[:64]!r}")
    try:
        if first.upper().startswith("P"):
            end = parse_instant(second)
            return _checked(end - parse_duration(first), end, text)
        start = parse_instant(first)
        if second.upper().startswith("P"):
            return _checked(start, start + parse_duration(second), text)
        return _checked(start, parse_instant(second), text)
    except OverflowError:
        raise ValueError(f"interval out of range: {text[:64]!r}") from None


def _checked(start: datetime, end: datetime, text: str) -> Interval:
    if end < start:
        raise ValueError(f"interval ends before it starts: {text[:64]!r}")
    return Interval(start, end)
