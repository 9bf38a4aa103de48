"""VOSI 1.1: /availability (a real check of store and adapters) and /capabilities."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.render import (
    availability_json,
    availability_xml,
    capabilities_json,
    capabilities_xml,
    standard_capabilities,
)
from ivoa_broker.web.context import Broker, broker
from ivoa_broker.web.negotiate import document


async def check_availability(b: Broker) -> tuple[bool, list[str]]:
    """Available when the store answers and at least one adapter is healthy."""
    found = await b.availability.check()
    return found.available, found.notes


async def availability(request: Request) -> Response:
    b = broker(request)
    available, notes = await check_availability(b)
    return document(
        request,
        lambda: availability_xml(available, notes, b.started),
        lambda: availability_json(available, notes, b.started),
    )


async def capabilities(request: Request) -> Response:
    b = broker(request)
    specs = standard_capabilities(b.base_url(request), b.jobs_url(request))
    response = document(request, lambda: capabilities_xml(specs), lambda: capabilities_json(specs))
    response.headers["Last-Modified"] = format_datetime(b.started, usegmt=True)
    return response


ROUTES: list[BaseRoute] = [
    Route("/availability", availability, methods=["GET"]),
    Route("/capabilities", capabilities, methods=["GET"], name="capabilities"),
]
