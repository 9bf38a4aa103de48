"""HTML pages for people: server-rendered jinja2 templates (``web/templates/``), no build step.

A page is served only when the client prefers ``text/html`` over XML and JSON
(:func:`ivoa_broker.web.negotiate.wants_html`): a browser. Every other client gets the API
answer exactly as before; :func:`with_pages` puts a page in front of the API routes that have
one, so the API modules stay as they are. Pages: the job list (``/jobs``: filters PHASE,
AFTER, LAST and paging), a job (``/jobs/{id}``), an offer set (``/offersets/{id}``), a
session (``/sessions/{id}``), the availability (``/availability``); ``/`` leads a browser to
the job list. The pages' forms post the UWS forms (and, for accept/reject, a small form to
``/sessions/{id}``) with a CSRF token (:mod:`ivoa_broker.web.csrf`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.middleware import IDENTITY, SESSION_USED
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.formats import to_data
from ivoa_broker.eb.model import ExecutionSession, SessionPhase
from ivoa_broker.errors import BadRequest, BrokerError, Forbidden, JobNotFound
from ivoa_broker.phases import TERMINAL
from ivoa_broker.protocol import AdapterError, Phase, utcnow
from ivoa_broker.render import format_instant
from ivoa_broker.units import parse_instant
from ivoa_broker.web import eb
from ivoa_broker.web.context import Broker, broker
from ivoa_broker.web.csrf import set_token, token_for
from ivoa_broker.web.negotiate import wants_html

__all__ = ["PAGE_SIZE", "render", "with_pages"]

Handler = Callable[[Request], Awaitable[Response]]
PAGE_SIZE = 50
#: how much of each log stream a job page shows
LOG_TAIL_BYTES = 4096
_FORM = "application/x-www-form-urlencoded"


@cache
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("ivoa_broker.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["instant"] = lambda value: format_instant(value) if value else ""
    return env


def render(request: Request, name: str, status: int = 200, **values: Any) -> Response:
    """The page ``name`` with a CSRF token for its forms and who is signed in."""
    token = token_for(request)
    base = broker(request).base_url(request)
    who = request.scope.get(IDENTITY)
    body = (
        _templates()
        .get_template(name)
        .render(
            base=base,
            csrf=token,
            who=who.owner if isinstance(who, Identity) else None,
            signed_in=bool(request.scope.get(SESSION_USED)),
            **values,
        )
    )
    response = HTMLResponse(body, status_code=status, headers={"Vary": "Accept"})
    response.headers["Cache-Control"] = "no-store"
    set_token(request, response, token)
    return response


def _error_page(request: Request, status: int, message: str) -> Response:
    body = (
        _templates()
        .get_template("error.html")
        .render(base=broker(request).base_url(request), status=status, message=message)
    )
    return HTMLResponse(body, status_code=status)


# --------------------------------------------------------------------- jobs


def _filters(request: Request) -> tuple[list[Phase], str | None, int | None, int]:
    pairs = [(k.lower(), v) for k, v in request.query_params.multi_items()]
    phases: list[Phase] = []
    for key, value in pairs:
        if key == "phase":
            try:
                phases.append(Phase(value.strip().upper()))
            except ValueError:
                raise BadRequest(f"PHASE={value[:40]!r} is not a UWS phase") from None
    after = next((v for k, v in pairs if k == "after" and v.strip()), None)
    last_text = next((v for k, v in pairs if k == "last" and v.strip()), None)
    page_text = next((v for k, v in pairs if k == "page"), "1")
    try:
        last = int(last_text) if last_text is not None else None
        page = int(page_text)
    except ValueError:
        raise BadRequest("LAST and page must be whole numbers") from None
    if (last is not None and last <= 0) or page <= 0:
        raise BadRequest("LAST and page must be > 0")
    return phases, after, last, page


async def job_list(request: Request) -> Response:
    b = broker(request)
    phases, after_text, last, page = _filters(request)
    try:
        after = parse_instant(after_text) if after_text is not None else None
    except ValueError as exc:
        raise BadRequest(f"AFTER: {exc}") from None
    jobs = await b.jobs.list(
        b.identify(request).owner, phases=phases or None, after=after, last=last
    )
    jobs.sort(key=lambda j: j.creation_time, reverse=True)
    pages = max(1, math.ceil(len(jobs) / PAGE_SIZE))
    shown = jobs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    query = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "page"]

    def page_url(number: int) -> str:
        return f"{b.jobs_url(request)}?{urlencode([*query, ('page', str(number))])}"

    return render(
        request,
        "jobs.html",
        jobs=shown,
        total=len(jobs),
        page=page,
        pages=pages,
        page_url=page_url,
        phases={p.value for p in phases},
        all_phases=[p.value for p in Phase if p is not Phase.UNKNOWN],
        after=after_text,
        last=last,
    )


def _tail(path: str) -> str:
    with Path(path).open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - LOG_TAIL_BYTES))
        return f.read().decode("utf-8", errors="replace")


async def _logs(b: Broker, job_id: str, owner: str | None) -> list[tuple[str, str]]:
    """The ends of the job's ``stdout`` and ``stderr`` results, where the platform stages
    them as files (the local platform does)."""
    out: list[tuple[str, str]] = []
    for name in ("stdout", "stderr"):
        try:
            stored = await b.jobs.result(job_id, owner, name)
        except JobNotFound:
            continue
        if stored.path is None:
            continue
        try:
            text = await asyncio.to_thread(_tail, stored.path)
        except OSError:
            continue
        if text.strip():
            out.append((name, text))
    return out


def progress_of(info: Mapping[str, str], phase: Phase) -> tuple[str | None, float | None]:
    """The job's latest progress (message, fraction) while it has not ended."""
    if phase in TERMINAL or phase is Phase.ARCHIVED:
        return None, None
    message = info.get("progress")
    try:
        fraction = float(info["progress_fraction"]) if "progress_fraction" in info else None
    except ValueError:
        fraction = None
    return message, fraction


async def job_page(request: Request) -> Response:
    b = broker(request)
    job = await b.jobs.get(request.path_params["job_id"], b.identify(request).owner)
    progress, fraction = progress_of(job.job_info, job.phase)
    hidden = {"progress", "progress_fraction", "endpoint"}
    endpoint = job.job_info.get("endpoint")
    return render(
        request,
        "job.html",
        job=job,
        job_url=b.job_url(request, job.job_id),
        progress=progress,
        fraction=fraction,
        endpoint=endpoint if endpoint and endpoint.startswith(("http://", "https://")) else None,
        info=sorted((k, v) for k, v in job.job_info.items() if k not in hidden),
        logs=await _logs(b, job.job_id, job.owner),
    )


# ------------------------------------------------------------ ExecutionBroker


def _short(data: Any) -> str:
    """A component of a session document in one line for people."""
    if not isinstance(data, dict):
        return str(data)
    parts = []
    for key, value in data.items():
        if key in ("meta",):
            continue
        if key == "kind" and isinstance(value, str):
            value = value.rsplit("/", 1)[-1].removesuffix(".yaml")
        text = _short(value) if isinstance(value, dict) else str(value)
        parts.append(f"{key}: {text if len(text) <= 120 else text[:117] + '...'}")
    return "; ".join(parts)


def _session_view(doc: ExecutionSession) -> dict[str, Any]:
    data = to_data(doc)
    meta = doc.meta
    actions: list[str] = []
    progress = None
    if meta is not None:
        for option in meta.options:
            if option.path == "phase":
                actions += [str(v) for v in getattr(option, "values", [])]
        for message in meta.messages:
            if message.template == "progress":
                progress = message.message
    return {
        "id": str(meta.uuid) if meta is not None and meta.uuid else "",
        "phase": doc.phase.value,
        "description": meta.description if meta is not None else None,
        "executable": _short(data.get("executable")) if data.get("executable") else None,
        "compute": _short(data.get("compute")) if data.get("compute") else None,
        "schedule": _short(data.get("schedule")) if data.get("schedule") else None,
        "expires": data.get("expires"),
        "connectors": [{"location": c.location, "status": c.status.value} for c in doc.connectors],
        "actions": [a for a in actions if a in ("ACCEPTED", "REJECTED", "CANCELLED")],
        "progress": progress,
    }


def _messages(meta: Any) -> list[str]:
    if meta is None:
        return []
    return [m.message for m in meta.messages if m.message and m.template != "progress"]


async def offerset_page(request: Request) -> Response:
    b = broker(request)
    view = await eb.service(b).offerset(eb.path_uuid(request), b.identify(request).owner)
    doc = eb.offerset_document(b, request, view, utcnow())
    return render(
        request,
        "offerset.html",
        uuid=view.offerset.offerset_id,
        doc={"result": doc.result.value, "meta": doc.meta},
        offers=[_session_view(s) for s in doc.offers],
        messages=_messages(doc.meta),
    )


async def session_page(request: Request) -> Response:
    b = broker(request)
    view = await eb.service(b).session(eb.path_uuid(request), b.identify(request).owner)
    doc = eb.session_document(b, request, view, utcnow())
    return render(
        request,
        "session.html",
        offer=_session_view(doc),
        messages=_messages(doc.meta),
        has_job=view.job is not None,
    )


async def session_form(request: Request) -> Response:
    """``phase=ACCEPTED|REJECTED|CANCELLED`` posted by a session or offer set page."""
    b = broker(request)
    owner = b.identify(request).owner
    session_id = eb.path_uuid(request)
    service = eb.service(b)
    form = await request.form()
    target = str(form.get("phase", "")).strip().upper()
    if target == SessionPhase.ACCEPTED.value:
        await service.accept(session_id, owner)
        return RedirectResponse(b.job_url(request, session_id), status_code=303)
    if target == SessionPhase.REJECTED.value:
        await service.reject(session_id, owner)
    elif target == SessionPhase.CANCELLED.value:
        await service.cancel(session_id, owner)
    else:
        raise BadRequest("phase must be ACCEPTED, REJECTED or CANCELLED")
    return RedirectResponse(f"{b.base_url(request)}/sessions/{session_id}", status_code=303)


# ---------------------------------------------------------------- the rest


async def availability_page(request: Request) -> Response:
    from ivoa_broker.web.vosi import check_availability

    b = broker(request)
    available, notes = await check_availability(b)
    return render(request, "availability.html", available=available, notes=notes, started=b.started)


async def index_page(request: Request) -> Response:
    return RedirectResponse(broker(request).jobs_url(request), status_code=303)


# ------------------------------------------------------------------ wiring

#: (path, method) -> the page served instead of the API answer to a browser
PAGES: dict[tuple[str, str], Handler] = {
    ("/", "GET"): index_page,
    ("/jobs", "GET"): job_list,
    ("/jobs/{job_id}", "GET"): job_page,
    ("/offersets/{uuid}", "GET"): offerset_page,
    ("/sessions/{uuid}", "GET"): session_page,
    ("/availability", "GET"): availability_page,
}
#: (path, method) -> the handler of the pages' own forms (``application/x-www-form-urlencoded``)
FORMS: dict[tuple[str, str], Handler] = {("/sessions/{uuid}", "POST"): session_form}


def _guarded(page: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await page(request)
        except BrokerError as exc:
            status = 409 if isinstance(exc, Forbidden) and request.method == "POST" else exc.status
            return _error_page(request, status, exc.message)
        except DocumentError as exc:
            return _error_page(request, exc.status, exc.detail)
        except AdapterError as exc:
            return _error_page(request, exc.http_status, exc.message)

    return run


def _wrap(api: Callable[..., Any], page: Handler, *, form: bool) -> Handler:
    page = _guarded(page)

    async def endpoint(request: Request) -> Response:
        if form:
            media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            chosen = media == _FORM
        else:
            chosen = wants_html(request)
        if chosen:
            return await page(request)
        response: Response = await api(request)
        if not form:
            response.headers.setdefault("Vary", "Accept")
        return response

    endpoint.__name__ = getattr(api, "__name__", "endpoint")
    return endpoint


def with_pages(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The same routes, each one that has a page or a form answering browsers with it."""
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.methods:
            for method in sorted(route.methods - {"HEAD"}):
                key = (route.path, method)
                handler = PAGES.get(key) or FORMS.get(key)
                if handler is not None:
                    endpoint = _wrap(route.endpoint, handler, form=key in FORMS)
                    route = Route(
                        route.path, endpoint, methods=sorted(route.methods), name=route.name
                    )
                    break
        out.append(route)
    return out
