"""The one Accept negotiator (ivoa_broker.accept) as both APIs use it."""

from __future__ import annotations

import pytest

from ivoa_broker.accept import Offered, choose, parse_accept
from ivoa_broker.eb.formats import OFFERED as EB_OFFERED
from ivoa_broker.web.negotiate import UWS_OFFERED, UWS_WITH_PAGE

CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def media(accept: str | None, offered: tuple[Offered, ...]) -> str | None:
    chosen = choose(accept, offered)
    return chosen.media if chosen is not None else None


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/xml"),
        ("", "application/xml"),
        ("*/*", "application/xml"),
        ("application/*", "application/xml"),
        ("text/*", "application/xml"),
        ("application/json", "application/json"),
        ("application/json, */*", "application/json"),  # named beats a wildcard
        ("application/json;q=0.5, application/xml", "application/xml"),
        ("application/json, text/xml;q=0.9", "application/json"),
        ("text/html", "text/html"),
        (CHROME, "text/html"),
        (FIREFOX, "text/html"),
        (SAFARI, "text/html"),
        ("text/html;q=0.5, */*", "application/xml"),
        ("application/xhtml+xml", "text/html"),
        ("image/png", None),
        ("application/json;q=0, application/xml;q=0, text/html;q=0", None),
    ],
)
def test_uws_with_a_page(accept: str | None, expected: str | None) -> None:
    assert media(accept, UWS_WITH_PAGE) == expected


def test_without_a_page_html_is_never_chosen() -> None:
    assert media(CHROME, UWS_OFFERED) == "application/xml"
    assert media("text/html", UWS_OFFERED) is None


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/yaml"),
        ("*/*", "application/yaml"),
        ("text/yaml", "application/yaml"),
        ("application/json, */*", "application/json"),
        ("application/json, application/yaml", "application/yaml"),
        (CHROME, "application/xml"),  # no page on this route: the browser's XML
        ("text/html", None),
    ],
)
def test_execution_broker(accept: str | None, expected: str | None) -> None:
    assert media(accept, EB_OFFERED) == expected


def test_malformed_entries_are_skipped_and_bad_q_accepts_nothing() -> None:
    assert parse_accept("garbage, text/html;q=0.5, /x, a/") == parse_accept("text/html;q=0.5")
    assert media("application/json;q=abc", UWS_WITH_PAGE) is None
    assert media("application/json;q=2", UWS_WITH_PAGE) == "application/json"  # capped at 1


def test_at_most_64_ranges_are_read() -> None:
    header = ", ".join(["image/png"] * 64 + ["application/json"])
    assert media(header, UWS_WITH_PAGE) is None
