"""The ceiling: a bare Starlette endpoint serving a document as large as the broker's.

``bench/run.py`` fetches the broker's own ``uws:job`` document first and passes
it in ``BENCH_BODY_FILE``, so both serve the same bytes; without it a stand-in
of the usual size (about 1.1 kB) is served.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_FILE = os.environ.get("BENCH_BODY_FILE")
BODY = (
    Path(_FILE).read_bytes()
    if _FILE
    else (
        b"<?xml version='1.0' encoding='UTF-8'?>\n"
        b'<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1">'
        + b"<uws:jobId>x</uws:jobId><uws:phase>PENDING</uws:phase>" * 18
        + b"</uws:job>"
    )
)


async def job(request: Request) -> Response:
    return Response(BODY, media_type="application/xml")


app = Starlette(routes=[Route("/jobs/{job_id}", job)])
