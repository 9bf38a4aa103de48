"""Content negotiation: XML by default (IVOA clients), JSON when asked for."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

XML = "application/xml"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def _ranked(accept: str) -> list[tuple[float, str]]:
    ranked: list[tuple[float, str]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranked.append((quality, media.lower()))
    return ranked


def wants_json(request: Request) -> bool:
    """True only when the client prefers application/json over any XML type."""
    accept = request.headers.get("accept", "")
    if "json" not in accept:
        return False
    best_json = best_xml = 0.0
    for quality, media in _ranked(accept):
        if media == JSON:
            best_json = max(best_json, quality)
        elif media in (XML, "text/xml", "*/*", "application/*"):
            best_xml = max(best_xml, quality if media.endswith("xml") else quality - 0.001)
    return best_json > 0 and best_json >= best_xml


def document(request: Request, xml: Any, as_json: Any, status: int = 200) -> Response:
    """Render with ``xml()`` or ``as_json()`` (called lazily) by the Accept header."""
    if wants_json(request):
        return json_response(as_json(), status)
    return Response(xml(), status_code=status, media_type=XML)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")).encode(), status_code=status, media_type=JSON
    )


def text(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=TEXT)
