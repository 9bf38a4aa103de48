"""UWS 1.1 job routes (``/jobs`` and its children)."""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ivoa_broker.errors import BadRequest, JobNotFound
from ivoa_broker.records import Job, Parameter
from ivoa_broker.render import (
    error_json,
    error_votable,
    format_instant,
    job_json,
    jobs_json,
    jobs_xml,
    parameters_json,
    parameters_xml,
    results_json,
    results_xml,
)
from ivoa_broker.task_params import CONTROL_PARAMETERS
from ivoa_broker.web import inputs
from ivoa_broker.web.context import broker
from ivoa_broker.web.inputs import uws_boundary
from ivoa_broker.web.negotiate import document, text, wants_json
from ivoa_broker.web.params import query_pairs, read_params, single


async def _callers_job(request: Request) -> Job:
    """The job named in the path, if the caller may see it (else 404)."""
    b = broker(request)
    return await b.jobs.get(request.path_params["job_id"], b.identify(request).owner)


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


_phase = inputs.phase
_instant = inputs.instant


def _int(value: str, name: str) -> int:
    return inputs.whole_number(value, name)


# ---------------------------------------------------------------- job list


async def list_jobs(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    pairs = query_pairs(request)
    phases = [_phase(v) for k, v in pairs if k == "phase"]
    after_text = single(pairs, "after")
    last_text = single(pairs, "last")
    after = _instant(after_text, "AFTER") if after_text is not None else None
    last = None
    if last_text is not None:
        last = _int(last_text, "LAST")
        if last <= 0:
            raise BadRequest(f"LAST must be a whole number > 0; got {last_text!r}")
    if who.admin:  # admins list every owner's jobs
        summaries = await b.jobs.list_every_owner(phases=phases or None, after=after, last=last)
    else:
        summaries = await b.jobs.list(who.owner, phases=phases or None, after=after, last=last)
    url = b.jobs_url(request)
    return document(request, lambda: jobs_xml(summaries, url), lambda: jobs_json(summaries, url))


async def create_job(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    pairs = await read_params(request)
    phase = single(pairs, "phase")
    if phase is not None and phase.strip().upper() != "RUN":
        raise BadRequest(f"PHASE at job creation may only be RUN; got {phase[:40]!r}")
    if single(pairs, "action") is not None:
        raise BadRequest("ACTION is not allowed when creating a job")
    duration = single(pairs, "executionduration")
    destruction = single(pairs, "destruction")
    b.policy.check(who, single(pairs, "platform"))  # 403 for a platform not permitted
    async with b.admit(who, "active_jobs"):  # 429 over the owner's limit
        job = await b.jobs.create(
            who.owner,
            [Parameter(k, v) for k, v in pairs if k not in CONTROL_PARAMETERS],
            run_id=single(pairs, "runid"),
            execution_duration=(
                _int(duration, "EXECUTIONDURATION") if duration is not None else None
            ),
            destruction=_instant(destruction, "DESTRUCTION") if destruction is not None else None,
            run=phase is not None,
        )
    return _see_other(b.job_url(request, job.job_id))


# --------------------------------------------------------------------- job


async def get_job(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    job_id = request.path_params["job_id"]
    pairs = query_pairs(request)
    wait_text = single(pairs, "wait")
    phase_text = single(pairs, "phase")
    if wait_text is None:
        job = await b.jobs.get(job_id, who.owner)
    else:
        wait = _int(wait_text, "WAIT")
        if wait < -1:
            raise BadRequest(f"WAIT must be -1 (until change) or >= 0 seconds; got {wait}")
        cap = b.settings.jobs.wait_cap
        timeout = cap if wait == -1 else min(float(wait), cap)
        phase = _phase(phase_text) if phase_text is not None else None
        job = await b.jobs.wait(job_id, who.owner, timeout, phase)
    url = b.job_url(request, job_id)
    return document(request, lambda: b.rendered.xml(job, url), lambda: job_json(job, url))


async def post_job(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    pairs = await read_params(request)
    action = single(pairs, "action")
    if action is None or action.strip().upper() != "DELETE":
        raise BadRequest(
            "POST to a job needs ACTION=DELETE; change parameters at {job}/parameters "
            "and the phase at {job}/phase"
        )
    await b.jobs.delete(request.path_params["job_id"], who.owner)
    return _see_other(b.jobs_url(request))


async def delete_job(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    await b.jobs.delete(request.path_params["job_id"], who.owner)
    return _see_other(b.jobs_url(request))


# ---------------------------------------------------------------- children


async def get_phase(request: Request) -> Response:
    job = await _callers_job(request)
    return text(job.phase.value)


async def post_phase(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    job_id = request.path_params["job_id"]
    value = single(await read_params(request), "phase")
    if value is None:
        raise BadRequest("POST to phase needs PHASE=RUN or PHASE=ABORT")
    match value.strip().upper():
        case "RUN":
            await b.jobs.run(job_id, who.owner)
        case "ABORT":
            await b.jobs.abort(job_id, who.owner)
        case _:
            raise BadRequest(f"PHASE must be RUN or ABORT; got {value[:40]!r}")
    return _see_other(b.job_url(request, job_id))


async def get_duration(request: Request) -> Response:
    job = await _callers_job(request)
    return text(str(job.execution_duration))


async def post_duration(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    job_id = request.path_params["job_id"]
    value = single(await read_params(request), "executionduration")
    if value is None:
        raise BadRequest("POST to executionduration needs EXECUTIONDURATION=<seconds>")
    await b.jobs.set_execution_duration(job_id, who.owner, _int(value, "EXECUTIONDURATION"))
    return _see_other(b.job_url(request, job_id))


async def get_destruction(request: Request) -> Response:
    job = await _callers_job(request)
    return text(format_instant(job.destruction) if job.destruction else "")


async def post_destruction(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    job_id = request.path_params["job_id"]
    value = single(await read_params(request), "destruction")
    if value is None:
        raise BadRequest("POST to destruction needs DESTRUCTION=<ISO 8601 instant>")
    await b.jobs.set_destruction(job_id, who.owner, _instant(value, "DESTRUCTION"))
    return _see_other(b.job_url(request, job_id))


async def get_quote(request: Request) -> Response:
    job = await _callers_job(request)
    return text(format_instant(job.quote) if job.quote else "")


async def get_owner(request: Request) -> Response:
    job = await _callers_job(request)
    return text(job.owner or "")


async def get_parameters(request: Request) -> Response:
    job = await _callers_job(request)
    return document(request, lambda: parameters_xml(job), lambda: parameters_json(job))


async def post_parameters(request: Request) -> Response:
    b = broker(request)
    who = b.identify(request)
    job_id = request.path_params["job_id"]
    pairs = await read_params(request)
    control = sorted({k for k, _ in pairs} & CONTROL_PARAMETERS)
    if control:
        raise BadRequest(f"{', '.join(c.upper() for c in control)} cannot be set as parameters")
    if not pairs:
        raise BadRequest("POST to parameters needs at least one name=value")
    b.policy.check(who, single(pairs, "platform"))  # 403 for a platform not permitted
    await b.jobs.set_parameters(job_id, who.owner, [Parameter(k, v) for k, v in pairs])
    return _see_other(b.job_url(request, job_id))


async def get_results(request: Request) -> Response:
    job = await _callers_job(request)
    url = broker(request).job_url(request, job.job_id)
    return document(request, lambda: results_xml(job, url), lambda: results_json(job, url))


async def get_result(request: Request) -> Response:
    b = broker(request)
    job_id = request.path_params["job_id"]
    stored = await b.jobs.result(
        job_id, b.identify(request).owner, request.path_params["result_id"]
    )
    if stored.path is None:
        assert stored.result.href is not None
        return _see_other(stored.result.href)
    path = Path(stored.path)
    if not await asyncio.to_thread(path.is_file):
        raise JobNotFound(f"result {stored.result.id!r} of job {job_id} is no longer available")
    media = stored.result.mime_type or mimetypes.guess_type(path.name)[0]
    return FileResponse(path, media_type=media or "application/octet-stream")


async def get_error(request: Request) -> Response:
    job = await _callers_job(request)
    if job.error is None:
        raise JobNotFound(f"job {job.job_id} has no error")
    if wants_json(request):
        return document(request, lambda: b"", lambda: error_json(job))
    return Response(error_votable(job), media_type="application/x-votable+xml")


ROUTES: list[BaseRoute] = [
    Route("/jobs", uws_boundary(list_jobs), methods=["GET"]),
    Route("/jobs", uws_boundary(create_job), methods=["POST"]),
    Route("/jobs/{job_id}", uws_boundary(get_job), methods=["GET"]),
    Route("/jobs/{job_id}", uws_boundary(post_job), methods=["POST"]),
    Route("/jobs/{job_id}", uws_boundary(delete_job), methods=["DELETE"]),
    Route("/jobs/{job_id}/phase", uws_boundary(get_phase), methods=["GET"]),
    Route("/jobs/{job_id}/phase", uws_boundary(post_phase), methods=["POST"]),
    Route("/jobs/{job_id}/executionduration", uws_boundary(get_duration), methods=["GET"]),
    Route("/jobs/{job_id}/executionduration", uws_boundary(post_duration), methods=["POST"]),
    Route("/jobs/{job_id}/destruction", uws_boundary(get_destruction), methods=["GET"]),
    Route("/jobs/{job_id}/destruction", uws_boundary(post_destruction), methods=["POST"]),
    Route("/jobs/{job_id}/quote", uws_boundary(get_quote), methods=["GET"]),
    Route("/jobs/{job_id}/owner", uws_boundary(get_owner), methods=["GET"]),
    Route("/jobs/{job_id}/parameters", uws_boundary(get_parameters), methods=["GET"]),
    Route("/jobs/{job_id}/parameters", uws_boundary(post_parameters), methods=["POST"]),
    Route("/jobs/{job_id}/results", uws_boundary(get_results), methods=["GET"]),
    Route("/jobs/{job_id}/results/{result_id:path}", uws_boundary(get_result), methods=["GET"]),
    Route("/jobs/{job_id}/error", uws_boundary(get_error), methods=["GET"]),
]
