"""Probes for orchestrators, beside VOSI, and the Prometheus scrape endpoint.

* ``GET /healthz``: the process is alive and its event loop answers (no I/O).
* ``GET /readyz``: the store takes a write lock and at least one platform is healthy
  (the same check as VOSI availability); 200 when ready, 503 with the notes when not.
* ``GET /metrics``: Prometheus text exposition of :class:`ivoa_broker.metrics.Metrics`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.metrics import CONTENT_TYPE
from ivoa_broker.web.context import broker


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    found = await broker(request).availability.ready()
    return JSONResponse(
        {"ready": found.available, "notes": found.notes},
        status_code=200 if found.available else 503,
    )


async def metrics(request: Request) -> Response:
    body = await broker(request).metrics.render()
    return Response(body, media_type=CONTENT_TYPE)


ROUTES: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
