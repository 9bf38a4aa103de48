"""The baseline: a bare Starlette endpoint serving a small XML document."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b'<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" version="1.1">'
    b"<uws:jobId>x</uws:jobId><uws:phase>PENDING</uws:phase></uws:job>"
)


async def job(request: Request) -> Response:
    return Response(BODY, media_type="application/xml")


app = Starlette(routes=[Route("/jobs/{job_id}", job)])
