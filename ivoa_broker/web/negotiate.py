"""Content negotiation of the UWS/VOSI side: XML by default (IVOA clients), JSON when asked
for, HTML pages only when a browser prefers them. The rule itself is
:func:`ivoa_broker.accept.choose`, shared with the ExecutionBroker side."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ivoa_broker.accept import Offered, choose

XML = "application/xml"
JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain; charset=utf-8"

_XML = Offered((XML, "text/xml"))
_JSON = Offered((JSON,))
_HTML = Offered((HTML, "application/xhtml+xml"))
#: in order of preference: a wildcard gets XML, HTML only when named and preferred
UWS_OFFERED = (_XML, _JSON)
UWS_WITH_PAGE = (_XML, _JSON, _HTML)


def preferred(request: Request, *, page: bool = False) -> str:
    """``XML``, ``JSON`` or (when the route has a ``page``) ``HTML``; XML when nothing fits."""
    return preferred_media(request.headers.get("accept"), page)


@lru_cache(maxsize=256)
def preferred_media(accept: str | None, page: bool) -> str:
    """:func:`preferred` of an ``Accept`` header: a pure function of the header's text, so
    kept (a client sends the same header on every request; at most 256 headers, each no
    longer than the server's header limit)."""
    chosen = choose(accept, UWS_WITH_PAGE if page else UWS_OFFERED)
    return chosen.media if chosen is not None else XML


def wants_json(request: Request) -> bool:
    """True only when the client prefers application/json over any XML type."""
    return preferred(request) == JSON


def wants_html(request: Request) -> bool:
    """True when the client (a browser) prefers an HTML page over XML and JSON."""
    return preferred(request, page=True) == HTML


def document(request: Request, xml: Any, as_json: Any, status: int = 200) -> Response:
    """Render with ``xml()`` or ``as_json()`` (called lazily) by the Accept header."""
    if wants_json(request):
        return json_response(as_json(), status)
    return Response(xml(), status_code=status, media_type=XML)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json_body(data), status_code=status, media_type=JSON)


def json_body(data: Any) -> bytes:
    """The compact JSON text of ``data`` (every JSON answer of the UWS side)."""
    return json.dumps(data, separators=(",", ":")).encode()


def text(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=TEXT)
