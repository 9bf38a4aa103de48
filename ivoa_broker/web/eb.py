"""ExecutionBroker routes: offer sets, sessions, direct execution, the OpenAPI document.

The same records as UWS (docs/architecture.md): an accepted session *is* the job
with the same id, and any UWS job reads as a session at ``/sessions/{job_id}``.
Every route is owner-scoped with the UWS identity (a stranger gets 404); bodies
are JSON, YAML or XML by ``Content-Type``, answers by ``Accept`` (YAML when
absent); errors are ``application/problem+json`` naming the path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache, wraps
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.auth import Identity
from ivoa_broker.eb.convert import offer_session, offer_set, refusal, request_document
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.formats import load_request, load_update, render, response_format
from ivoa_broker.eb.model import (
    MAX_DURATION,
    MAX_MESSAGES,
    MAX_TEXT,
    ConnectorProtocol,
    ConnectorStatus,
    ExecutionSession,
    MessageItem,
    MessageLevel,
    Meta,
    OfferSetList,
    OfferSetResponse,
    SessionConnector,
    SessionList,
    SessionPhase,
)
from ivoa_broker.eb.openapi import dump_openapi
from ivoa_broker.eb.updates import PhaseChange, RuntimeExtension, interpret_update
from ivoa_broker.eb.views import job_options, job_session_phase, offer_options
from ivoa_broker.errors import BrokerError, Forbidden, Unauthorized
from ivoa_broker.hops import HOPS_HEADER, ID_HEADER, MAX_HOPS, parse_hops
from ivoa_broker.offers import OfferService, OfferSetView, SessionView, offer_phase
from ivoa_broker.phases import TERMINAL
from ivoa_broker.protocol import AdapterError, Offer, Phase, utcnow
from ivoa_broker.records import Job
from ivoa_broker.units import parse_instant
from ivoa_broker.web.context import Broker, broker

PROBLEM = "application/problem+json"
Handler = Callable[[Request], Awaitable[Response]]


# ----------------------------------------------------------------- plumbing


def _problem(request: Request, body: dict[str, Any]) -> Response:
    body = {**body, "instance": request.url.path}
    response = Response(json.dumps(body), int(body["status"]), media_type=PROBLEM)
    if body["status"] == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ivoa-broker"'
    return response


def _titled(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    403: "Forbidden",
    413: "Too large",
    429: "Too many requests",
    422: "Unprocessable",
    503: "Unavailable",
}


def _guarded(handler: Handler) -> Handler:
    """Every failure of an EB route as problem+json (an illegal transition is 409)."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except DocumentError as exc:
            return _problem(request, exc.to_problem())
        except BrokerError as exc:
            status = 409 if isinstance(exc, Forbidden) else exc.status
            if isinstance(exc, Unauthorized):
                status = 401
            title = _TITLES.get(status, "Error")
            return _problem(request, _titled(status, title, exc.message))
        except AdapterError as exc:
            status = exc.http_status
            return _problem(request, _titled(status, _TITLES.get(status, "Error"), exc.message))

    return run


def _service(b: Broker) -> OfferService:
    return OfferService(b.store, b.jobs, b.dispatcher, b.settings.jobs)


def _session_id(request: Request) -> str:
    """The path's uuid in canonical form; anything else is not found."""
    raw = str(request.path_params["uuid"])
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise DocumentError(404, "Not found", f"no such item {raw[:64]!r}", None) from None


def _answer(
    request: Request, model: Any, status: int = 200, location: str | None = None
) -> Response:
    body, media = render(model, request.headers.get("accept"))
    response = Response(body, status, media_type=media)
    if location is not None:
        response.headers["Location"] = location
    return response


# ---------------------------------------------------------------- rendering


def releasing(job: Job) -> bool:
    """An aborted job whose platform has not yet confirmed that it let go."""
    return (
        job.phase is Phase.ABORTED
        and job.platform is not None
        and "abort_reason" in job.job_info
        and "released" not in job.job_info
    )


def _job_messages(b: Broker, request: Request, job: Job) -> list[MessageItem]:
    job_url = b.job_url(request, job.job_id)
    out = [
        MessageItem(
            level=MessageLevel.INFO,
            template="uws-job",
            values={"url": job_url, "phase": job.phase.value},
            message=f"UWS view: {job_url}",
        )
    ]
    if job.error is not None:
        out.append(MessageItem(level=MessageLevel.ERROR, message=job.error.message[:MAX_TEXT]))
    progress = job.job_info.get("progress")
    if progress and job.phase not in TERMINAL and job.phase is not Phase.ARCHIVED:
        values: dict[str, str] = {"message": progress[:MAX_TEXT]}
        if "progress_fraction" in job.job_info:
            values["fraction"] = job.job_info["progress_fraction"]
        out.append(
            MessageItem(
                level=MessageLevel.INFO,
                template="progress",
                values=values,
                message=f"progress: {progress}"[:MAX_TEXT],
            )
        )
    for result in job.results[: MAX_MESSAGES - 8]:
        href = result.href or f"{job_url}/results/{result.id}"
        out.append(
            MessageItem(
                level=MessageLevel.INFO,
                template="result",
                values={"id": result.id[:256], "url": href[:MAX_TEXT]},
                message=f"result {result.id[:200]}: {href[: MAX_TEXT - 256]}",
            )
        )
    if "exit_code" in job.job_info:
        out.append(
            MessageItem(
                level=MessageLevel.INFO,
                template="exit-code",
                values={"exit_code": job.job_info["exit_code"]},
                message=f"exit code {job.job_info['exit_code']}",
            )
        )
    return out


def connectors(job: Job) -> list[SessionConnector]:
    """How to reach the session: the platform's endpoint (an interactive session's URL),
    AVAILABLE while the job executes, FINISHED once it has ended."""
    url = job.job_info.get("endpoint")
    if not url or "://" not in url or len(url) > 2048 or not url.isprintable() or " " in url:
        return []
    scheme = url.split("://", 1)[0].lower()
    protocol = {"https": ConnectorProtocol.HTTPS, "http": ConnectorProtocol.HTTP}.get(
        scheme, ConnectorProtocol.TCP
    )
    if job.phase is Phase.EXECUTING:
        status = ConnectorStatus.AVAILABLE
    elif job.phase in TERMINAL or job.phase is Phase.ARCHIVED:
        status = ConnectorStatus.FINISHED
    else:
        status = ConnectorStatus.PREPARING
    try:
        return [SessionConnector(status=status, protocol=protocol, location=url)]
    except ValidationError:  # a platform's odd URL is not worth a failed answer
        return []


def _extend_max(b: Broker, job: Job) -> int | None:
    if job.execution_duration <= 0:
        return None
    cap = b.settings.jobs.max_execution_duration or int(MAX_DURATION.total_seconds())
    room = cap - job.execution_duration
    return room if room > 0 else None


def session_document(
    b: Broker, request: Request, view: SessionView, now: datetime
) -> ExecutionSession:
    base = b.base_url(request)
    sid = uuid.UUID(view.session_id)
    job = view.job
    if job is not None:
        phase = job_session_phase(job.phase, cancelling=releasing(job))
        options = job_options(job.phase, extend_max_seconds=_extend_max(b, job))
        if phase is SessionPhase.RELEASING:
            options = []
        messages = _job_messages(b, request, job)
        if view.offer is not None and view.request is not None:
            rendered = offer_session(
                Offer.from_json(view.offer.offer),
                view.request,
                session_id=sid,
                base_url=base,
                created=view.offer.created,
                phase=phase,
                options=options,
                messages=messages,
            )
            return rendered.model_copy(update={"connectors": connectors(job)})
        return ExecutionSession(
            connectors=connectors(job),
            meta=Meta(
                uuid=sid,
                url=f"{base}/sessions/{sid}",
                created=job.creation_time,
                name=job.run_id[:256] if job.run_id else None,
                messages=messages,
                options=options,
            ),
            phase=phase,
        )
    assert view.offer is not None and view.request is not None
    phase = offer_phase(view.offer, now)
    return offer_session(
        Offer.from_json(view.offer.offer),
        view.request,
        session_id=sid,
        base_url=base,
        created=view.offer.created,
        phase=phase,
        options=offer_options(phase),
    )


def offerset_document(
    b: Broker, request: Request, view: OfferSetView, now: datetime
) -> OfferSetResponse:
    doc = request_document(view.offerset.request)
    sessions = []
    for row in view.offers:
        job = view.jobs.get(row.offer_id)
        if row.phase == SessionPhase.ACCEPTED.value and job is None:
            # accepted, its job since deleted: the offer is shown as it was left
            sessions.append(
                offer_session(
                    Offer.from_json(row.offer),
                    doc,
                    session_id=uuid.UUID(row.offer_id),
                    base_url=b.base_url(request),
                    created=row.created,
                    phase=SessionPhase.ACCEPTED,
                )
            )
            continue
        sessions.append(
            session_document(b, request, SessionView(row.offer_id, row, job, doc, row.created), now)
        )
    messages = refusal(
        (None, f"{m['platform']}: {m['text']}"[:MAX_TEXT]) for m in view.offerset.messages
    )
    return offer_set(
        sessions,
        offerset_id=uuid.UUID(view.offerset.offerset_id),
        base_url=b.base_url(request),
        created=view.offerset.created,
        messages=messages[:MAX_MESSAGES],
        name=doc.name or None,
    )


# ------------------------------------------------------------------- routes


def _caller(request: Request) -> tuple[Broker, Identity]:
    """Every EB route starts here: who is calling (401 first), then whether we can
    answer in a format they accept (406), before any other work."""
    b = broker(request)
    who = b.identify(request)
    response_format(request.headers.get("accept"))
    return b, who


@_guarded
async def post_request(request: Request) -> Response:
    b, who = _caller(request)
    hops = _hops(b, request)
    doc = load_request(await request.body(), request.headers.get("content-type"))
    async with b.admit(who, "pending_offersets"):  # 429 over the owner's limit
        view = await _service(b).request(who.owner, doc, hops=hops)
    model = offerset_document(b, request, view, utcnow())
    location = f"{b.base_url(request)}/offersets/{view.offerset.offerset_id}"
    response = _answer(request, model, 303, location)
    response.headers[ID_HEADER] = b.broker_id
    return response


def _hops(b: Broker, request: Request) -> tuple[str, ...]:
    """The federation hop list of a request with this broker appended (ivoa_broker.hops);
    a request that already passed through here, or too many brokers, is refused (508)."""
    hops = parse_hops(request.headers.get(HOPS_HEADER))
    if hops is None:
        raise DocumentError(400, "Bad request", f"malformed {HOPS_HEADER} header", None)
    if b.broker_id in hops or len(hops) >= MAX_HOPS:
        raise DocumentError(
            508,
            "Loop detected",
            f"this request already passed through broker {b.broker_id} or {MAX_HOPS} brokers"
            f" ({HOPS_HEADER}: {', '.join(hops)[:400]})",
            None,
        )
    return (*hops, b.broker_id)


@_guarded
async def get_offerset(request: Request) -> Response:
    b, who = _caller(request)
    view = await _service(b).offerset(_session_id(request), who.owner)
    return _answer(request, offerset_document(b, request, view, utcnow()))


@_guarded
async def get_session(request: Request) -> Response:
    b, who = _caller(request)
    view = await _service(b).session(_session_id(request), who.owner)
    return _answer(request, session_document(b, request, view, utcnow()))


@_guarded
async def post_session(request: Request) -> Response:
    b, who = _caller(request)
    session_id = _session_id(request)
    service = _service(b)
    await service.session(session_id, who.owner)  # 404 before reading the body
    action = interpret_update(
        load_update(await request.body(), request.headers.get("content-type"))
    )
    if isinstance(action, PhaseChange):
        if action.target is SessionPhase.ACCEPTED:
            async with b.admit(who, "active_jobs"):  # 429 over the owner's limit
                await service.accept(session_id, who.owner)
        elif action.target is SessionPhase.REJECTED:
            await service.reject(session_id, who.owner)
        else:
            await service.cancel(session_id, who.owner)
    elif isinstance(action, RuntimeExtension):
        await service.extend(session_id, who.owner, action.seconds)
    view = await service.session(session_id, who.owner)
    return _answer(request, session_document(b, request, view, utcnow()))


@_guarded
async def post_direct(request: Request) -> Response:
    b, who = _caller(request)
    doc = load_request(await request.body(), request.headers.get("content-type"))
    service = _service(b)
    async with b.admit(who, "active_jobs"):  # 429 over the owner's limit
        job = await service.direct(who.owner, doc)
    view = await service.session(job.job_id, who.owner)
    location = f"{b.base_url(request)}/sessions/{job.job_id}"
    return _answer(request, session_document(b, request, view, utcnow()), 303, location)


def _filters(
    request: Request,
) -> tuple[list[SessionPhase] | None, datetime | None, datetime | None, int | None]:
    params = request.query_params
    phases: list[SessionPhase] = []
    for value in params.getlist("phase"):
        try:
            phases.append(SessionPhase(value.strip().upper()))
        except ValueError:
            allowed = ", ".join(p.value for p in SessionPhase)
            raise DocumentError(
                400, "Bad filter", f"phase {value[:40]!r} is not one of {allowed}", "phase"
            ) from None
    times: dict[str, datetime | None] = {}
    for name in ("after", "before"):
        text = params.get(name)
        try:
            times[name] = parse_instant(text) if text is not None else None
        except ValueError as exc:
            raise DocumentError(400, "Bad filter", str(exc), name) from None
    last: int | None = None
    text = params.get("last")
    if text is not None:
        if not text.strip().isdigit() or not 1 <= int(text) <= 1000:
            raise DocumentError(
                400, "Bad filter", f"last must be a whole number 1..1000; got {text[:40]!r}", "last"
            )
        last = int(text)
    return phases or None, times["after"], times["before"], last


@_guarded
async def list_sessions(request: Request) -> Response:
    b, who = _caller(request)
    phases, after, before, last = _filters(request)
    views = await _service(b).sessions(
        who.owner, phases=phases, after=after, before=before, last=last
    )
    now = utcnow()
    docs = [session_document(b, request, v, now) for v in views]
    if phases:
        docs = [d for d in docs if d.phase in phases]
    return _answer(request, SessionList(sessions=docs))


@_guarded
async def list_offersets(request: Request) -> Response:
    b, who = _caller(request)
    phases, after, before, last = _filters(request)
    views = await _service(b).offersets(
        who.owner, phases=phases, after=after, before=before, last=last
    )
    now = utcnow()
    return _answer(
        request, OfferSetList(offersets=[offerset_document(b, request, v, now) for v in views])
    )


@cache
def _openapi_text() -> bytes:
    return dump_openapi().encode()


async def openapi(request: Request) -> Response:
    """The OpenAPI document (equal to the packaged ``eb/openapi.yaml``, a test checks)."""
    return Response(_openapi_text(), media_type="application/yaml")


#: for the HTML pages (web/pages.py), which read the same records
service = _service
path_uuid = _session_id


ROUTES: list[BaseRoute] = [
    Route("/requests", post_request, methods=["POST"]),
    Route("/offersets", list_offersets, methods=["GET"]),
    Route("/offersets/{uuid}", get_offerset, methods=["GET"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions/{uuid}", get_session, methods=["GET"]),
    Route("/sessions/{uuid}", post_session, methods=["POST"]),
    Route("/direct", post_direct, methods=["POST"]),
    Route("/openapi.yaml", openapi, methods=["GET"]),
]
