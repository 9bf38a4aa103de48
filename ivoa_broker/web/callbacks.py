"""Platform-side agents report back: ``POST /callbacks/{platform}/{job_id}``.

Authorised by a per-job secret (bearer) that the adapter checks; accepted only
while the job is not terminal (410 after). The form is bounded in size.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.errors import BadRequest, PayloadTooLarge, Unauthorized
from ivoa_broker.web.context import broker

MAX_CALLBACK_BODY = 256 * 1024 * 1024


async def callback(request: Request) -> Response:
    b = broker(request)
    platform = request.path_params["platform"]
    job_id = request.path_params["job_id"]
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("a callback needs 'Authorization: Bearer <job secret>'")
    handle = await b.dispatcher.callback_handle(platform, job_id)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_CALLBACK_BODY:
        raise PayloadTooLarge(f"callback body is {length} bytes; at most {MAX_CALLBACK_BODY}")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    try:
        form = await request.form(max_files=256, max_fields=256)
    except Exception as exc:
        raise BadRequest(f"cannot read the callback form: {exc}") from None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[value.filename or key] = await value.read()
            else:
                fields[key] = value
    finally:
        await form.close()
    await b.dispatcher.deliver_callback(platform, handle, secret.strip(), fields, files)
    return Response(status_code=204)


ROUTES: list[BaseRoute] = [
    Route("/callbacks/{platform}/{job_id}", callback, methods=["POST"]),
]
