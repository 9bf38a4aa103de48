"""UWS content negotiation (``web/negotiate.py``): the kept answer is the negotiator's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from ivoa_broker.accept import choose
from ivoa_broker.web.negotiate import (
    HTML,
    JSON,
    UWS_OFFERED,
    UWS_WITH_PAGE,
    XML,
    preferred,
    preferred_media,
    wants_html,
    wants_json,
)

RANGES = st.sampled_from(
    [
        "*/*",
        "application/*",
        "text/*",
        "application/xml",
        "text/xml",
        "application/json",
        "text/html",
        "application/xhtml+xml",
        "image/png",
        "garbage",
        "",
    ]
)
Q = st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=0.9", ";q=x", "; level=1"])
ACCEPT = st.lists(st.tuples(RANGES, Q).map("".join), max_size=5).map(", ".join)


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode("latin-1"))]
    return Request({"type": "http", "method": "GET", "headers": headers})


def _uncached(accept: str | None, page: bool) -> str:
    chosen = choose(accept, UWS_WITH_PAGE if page else UWS_OFFERED)
    return chosen.media if chosen is not None else XML


@given(ACCEPT | st.none(), st.booleans())
def test_the_kept_answer_is_the_negotiators_first_time_and_after(
    accept: str | None, page: bool
) -> None:
    first = preferred(_request(accept), page=page)
    assert first == _uncached(accept, page)
    assert preferred(_request(accept), page=page) == first  # from the cache now


def test_a_page_and_an_api_answer_are_kept_apart() -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert wants_html(_request(browser))
    assert not wants_json(_request(browser))
    assert preferred(_request(browser)) == XML  # no page offered: XML, not the cached HTML
    assert preferred(_request(browser), page=True) == HTML
    assert wants_json(_request("application/json"))


def test_it_is_bounded() -> None:
    for n in range(1000):
        assert preferred_media(f"application/json;q=0.{n % 10}, x/y{n}", False) == (
            JSON if n % 10 else XML
        )
    assert preferred_media.cache_info().currsize <= 256
