"""The one content negotiator of both APIs (UWS and ExecutionBroker): pick a media type
from an ``Accept`` header (RFC 9110, section 12.5.1).

Each offered type takes the q-value of the *most specific* range that matches it
(``text/html`` over ``text/*`` over ``*/*``). The best q wins; among equal q-values an
explicitly named type beats one matched only by a wildcard, and then the caller's order of
preference decides. A type may be offered under several names (``application/xml`` and
``text/xml``): the first name is the one answered, the others only match.

The callers differ only in what they offer and in what happens when nothing fits:

* UWS (``web/negotiate.py``) offers XML, JSON and HTML (in that order, so ``*/*`` gets XML
  and a browser, which names ``text/html`` first, gets the page); when nothing fits it
  answers XML anyway, as IVOA clients expect.
* The ExecutionBroker (``eb/formats.py``) offers YAML, JSON, XML and, where a page exists,
  HTML; when nothing fits it answers 406.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MediaRange", "Offered", "choose", "parse_accept"]

#: at most this many ranges are read from one header (a guard against huge headers)
MAX_RANGES = 64

_Q = re.compile(r"^\s*q\s*=\s*([0-9](?:\.[0-9]{0,3})?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class MediaRange:
    """One entry of an ``Accept`` header, lower-cased, without its parameters."""

    type: str
    subtype: str
    q: float

    def specificity(self, media: str) -> int:
        """How closely this range names ``media`` (2 exact, 1 ``type/*``, 0 ``*/*``),
        or -1 when it does not match."""
        kind, _, sub = media.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != kind:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


@dataclass(frozen=True)
class Offered:
    """A representation a route can answer in: its names (the first is answered)."""

    names: tuple[str, ...]

    @property
    def media(self) -> str:
        return self.names[0]


def _q(params: Sequence[str]) -> float:
    for param in params:
        match = _Q.match(param)
        if match:
            return min(float(match.group(1)), 1.0)
        if param.strip().lower().startswith("q="):
            return 0.0  # a malformed q-value accepts nothing rather than everything
    return 1.0


def parse_accept(accept: str) -> list[MediaRange]:
    """The ranges of an ``Accept`` header (malformed entries are skipped)."""
    ranges: list[MediaRange] = []
    for entry in accept.split(",")[:MAX_RANGES]:
        media, *params = entry.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        ranges.append(MediaRange(kind, sub, _q(params)))
    return ranges


def _score(ranges: Sequence[MediaRange], offered: Offered) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching any of the type's names."""
    best: tuple[int, float] = (-1, 0.0)
    for rng in ranges:
        for name in offered.names:
            spec = rng.specificity(name)
            if spec > best[0] or (spec == best[0] and rng.q > best[1]):
                best = (spec, rng.q)
    return best[1], best[0]


def choose(accept: str | None, offered: Sequence[Offered]) -> Offered | None:
    """The offered type the client prefers; the first offered when ``Accept`` is missing or
    empty; ``None`` when the client accepts none of them."""
    if accept is None or not accept.strip():
        return offered[0] if offered else None
    ranges = parse_accept(accept)
    best: Offered | None = None
    best_key: tuple[float, int] = (0.0, -1)
    for item in offered:
        q, spec = _score(ranges, item)
        if q <= 0.0 or spec < 0:
            continue
        if best is None or (q, spec) > best_key:
            best, best_key = item, (q, spec)
    return best
