"""Platform-side agents report back: ``POST /callbacks/{platform}/{job_id}``.

Authorised by a per-job secret (bearer) that the adapter checks; accepted only
while the job is not terminal (410 after). The form is bounded in size.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.errors import BadRequest, Gone, JobNotFound, PayloadTooLarge, Unauthorized
from ivoa_broker.phases import TERMINAL
from ivoa_broker.protocol import Handle, Phase
from ivoa_broker.web.context import broker

MAX_CALLBACK_BODY = 256 * 1024 * 1024


async def callback(request: Request) -> Response:
    b = broker(request)
    platform = request.path_params["platform"]
    job_id = request.path_params["job_id"]
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("a callback needs 'Authorization: Bearer <job secret>'")
    job = await b.store.get(job_id)
    stored_platform, handle_json = await b.store.handle_of(job_id)
    if job is None or stored_platform != platform or handle_json is None:
        raise JobNotFound(f"no job {job_id!r} on platform {platform!r}")
    if job.phase in TERMINAL or job.phase is Phase.ARCHIVED:
        raise Gone(f"job {job_id} has ended; callbacks are no longer accepted")
    adapter = b.dispatcher.adapters.get(platform)
    if adapter is None or not adapter.capabilities.callbacks:
        raise JobNotFound(f"platform {platform!r} takes no callbacks")
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
    await adapter.receive_callback(Handle.from_json(handle_json), secret.strip(), fields, files)
    b.dispatcher.wake(platform)
    return Response(status_code=204)


ROUTES: list[BaseRoute] = [
    Route("/callbacks/{platform}/{job_id}", callback, methods=["POST"]),
]
