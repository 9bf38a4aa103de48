"""Checklist items 28-39: state changes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import httpx
from lxml import etree

from ivoa_broker_conformance import urls
from ivoa_broker_conformance.jobs import (
    create_job,
    finished_job,
    get_job,
    job_id_of,
    job_list,
    jobrefs,
    jobs_url,
    list_identities,
    pending_job,
    post_phase,
    run_job,
    wait_for,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.urls import resolve
from ivoa_broker_conformance.xmlutil import NotXML, child, name_of, parse, uws


def _redirect_to(t: CheckRun, r: httpx.Response, target: str, what: str) -> None:
    t.expect(r.status_code == 303, f"{what} answered {r.status_code}, UWS requires 303")
    location = r.headers.get("location")
    t.expect(location, f"{what}: 303 without Location")
    got = resolve(str(r.request.url), location or "")
    t.expect(urls.same(got, target), f"{what} redirects to {got}, expected {target}")


async def _redirect_to_list(t: CheckRun, r: httpx.Response, job_url: str, what: str) -> None:
    """303 to the job list. Its identity is the job's own parent URL or the jobs URL in use
    (or an alias of it); a Location naming another URL passes when it redirects there (a
    canonical URL versus an alias the user typed) or serves the same uws:jobs list."""
    t.expect(r.status_code == 303, f"{what} answered {r.status_code}, UWS requires 303")
    location = r.headers.get("location")
    t.expect(location, f"{what}: 303 without Location")
    got = resolve(str(r.request.url), location or "")
    names = list_identities(t.session, job_url)
    if any(urls.same(got, n) for n in names):
        return
    try:
        followed = await t.session.client.get(
            got, headers=t.session.auth_headers("main"), follow_redirects=True
        )
    except httpx.HTTPError as exc:
        t.fail(f"{what} redirects to {got}, which cannot be fetched: {exc!r}")
    final = str(followed.url)
    if any(urls.same(final, n) for n in names):
        t.note(f"{what} redirects to {got}, which redirects on to the job list {final}")
        return
    if followed.status_code == 200 and b"jobs" in followed.content[:2000]:
        with contextlib.suppress(NotXML):
            if name_of(parse(followed.content)) == uws("jobs"):
                t.note(
                    f"{what} redirects to {got}: a uws:jobs list under another URL than {names[0]}"
                )
                return
    t.fail(f"{what} redirects to {got}, expected the job list ({' or '.join(names[:2])})")


def _result_ids(root: etree._Element) -> set[str]:
    results = child(root, "results")
    return set() if results is None else {r.get("id") or "" for r in results}


async def executing_job(t: CheckRun) -> str:
    url = await create_job(t, "long")
    await run_job(t, url)
    doc = await wait_for(t, url, {"EXECUTING"})
    if doc.phase != "EXECUTING":
        t.skip(f"the long job ended as {doc.phase} instead of executing (set --long-job-params)")
    return url


@check(
    "UWS-28",
    "PHASE=RUN on a PENDING job: 303 to the job, job leaves PENDING",
    "UWS 1.1 §2.2.3.2",
    Level.MUST,
)
async def run_pending(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await post_phase(t, doc.url, "RUN")
    _redirect_to(t, r, doc.url, "POST phase PHASE=RUN")
    after = await get_job(t, doc.url)
    t.expect(
        after.phase in ("QUEUED", "EXECUTING", "COMPLETED", "ERROR"),
        f"after RUN the job is {after.phase}",
    )


@check(
    "UWS-29",
    "PHASE=ABORT on an executing job: 303, ABORTED, earlier results kept",
    "UWS 1.1 §2.1.4, §2.2.3.2",
    Level.MUST,
)
async def abort_executing(t: CheckRun) -> None:
    url = await executing_job(t)
    before = _result_ids((await get_job(t, url)).root)
    r = await post_phase(t, url, "ABORT")
    _redirect_to(t, r, url, "POST phase PHASE=ABORT")
    doc = await wait_for(t, url, {"ABORTED"}, timeout=t.config.request_timeout)
    t.expect(doc.phase == "ABORTED", f"after ABORT the job is {doc.phase}")
    lost = before - _result_ids(doc.root)
    t.expect(not lost, f"results {sorted(lost)} disappeared on abort (must be retained)")


@check(
    "UWS-30", "PHASE=ABORT on a PENDING job: 303, ABORTED", "UWS 1.1 §2.1.3, §2.2.3.2", Level.MUST
)
async def abort_pending(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await post_phase(t, doc.url, "ABORT")
    _redirect_to(t, r, doc.url, "POST phase PHASE=ABORT")
    after = await get_job(t, doc.url)
    t.expect(after.phase == "ABORTED", f"after ABORT the job is {after.phase}")


@check(
    "UWS-31",
    "PHASE=BOGUS gives 4xx and leaves the phase unchanged",
    "UWS 1.1 §2.2.3.2; DALI §5.2",
    Level.MUST,
)
async def bogus_phase(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await post_phase(t, doc.url, "BOGUS")
    t.expect(400 <= r.status_code < 500, f"PHASE=BOGUS answered {r.status_code}, expected 4xx")
    t.should(r.status_code == 400, f"PHASE=BOGUS answered {r.status_code}; 400 is usual")
    after = await get_job(t, doc.url)
    t.expect(after.phase == "PENDING", f"PHASE=BOGUS changed the phase to {after.phase}")


@check(
    "UWS-32",
    "PHASE=RUN on a finished job: 403 (or no-op 303), phase unchanged",
    "UWS 1.1 §2.2 (403 for illegal requests)",
    Level.MUST,
)
async def run_finished(t: CheckRun) -> None:
    doc = await finished_job(t, "quick")
    r = await post_phase(t, doc.url, "RUN")
    t.expect(
        r.status_code in (303, 400, 403, 409), f"RUN on a {doc.phase} job answered {r.status_code}"
    )
    t.should(
        r.status_code == 403,
        f"RUN on a {doc.phase} job answered {r.status_code}; "
        "UWS §2.2 says 403 for a request illegal in this state",
    )
    after = await get_job(t, doc.url)
    t.expect(after.phase == doc.phase, f"RUN changed a {doc.phase} job to {after.phase}")


@check(
    "UWS-33",
    "POST executionduration: 303 to the job, value taken or clamped; junk 4xx",
    "UWS 1.1 §2.1.6, §2.2.3.3",
    Level.MUST,
)
async def set_duration(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.post(child_url(doc.url, "executionduration"), data=[("EXECUTIONDURATION", "60")])
    _redirect_to(t, r, doc.url, "POST executionduration")
    after = await get_job(t, doc.url)
    value = after.get("executionDuration") or ""
    t.expect(value.isdigit(), f"executionDuration {value!r} is not an integer >= 0")
    if value != "60":
        t.note(f"server chose executionDuration {value} for a request of 60")
    r = await t.post(child_url(doc.url, "executionduration"), data=[("EXECUTIONDURATION", "soon")])
    t.expect(400 <= r.status_code < 500, f"EXECUTIONDURATION=soon answered {r.status_code}")


@check(
    "UWS-34",
    "POST destruction: 303 to the job, value reflected; junk 4xx",
    "UWS 1.1 §2.1.7, §2.2.3.3",
    Level.MUST,
)
async def set_destruction(t: CheckRun) -> None:
    doc = await pending_job(t)
    when = datetime.now(UTC) + timedelta(days=1)
    r = await t.post(
        child_url(doc.url, "destruction"),
        data=[("DESTRUCTION", when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))],
    )
    _redirect_to(t, r, doc.url, "POST destruction")
    after = await get_job(t, doc.url)
    t.expect(after.get("destruction"), "destruction is nil after setting it")
    r = await t.post(child_url(doc.url, "destruction"), data=[("DESTRUCTION", "tomorrow")])
    t.expect(400 <= r.status_code < 500, f"DESTRUCTION=tomorrow answered {r.status_code}")


@check(
    "UWS-35",
    "POST parameters: updates in PENDING; refused (403) once running",
    "UWS 1.1 §2.2.3.1; DALI §3.3 (PENDING only)",
    Level.MAY,
)
async def set_parameters(t: CheckRun) -> None:
    doc = await pending_job(t)
    name = t.config.job_params[0][0] if t.config.job_params else "RUNID"
    value = t.config.job_params[0][1] if t.config.job_params else "x"
    r = await t.post(child_url(doc.url, "parameters"), data=[(name, value)])
    if r.status_code in (404, 405, 501):
        t.skip(f"parameter updates not offered ({r.status_code})")
    _redirect_to(t, r, doc.url, "POST parameters")
    done = await finished_job(t, "quick")
    before = child(done.root, "parameters")
    r = await t.post(child_url(done.url, "parameters"), data=[(name, value + "-changed")])
    t.expect(
        400 <= r.status_code < 500,
        f"parameter update on a {done.phase} job answered {r.status_code}",
    )
    t.should(
        r.status_code == 403, f"parameter update outside PENDING gave {r.status_code}, 403 expected"
    )
    after = child((await get_job(t, done.url)).root, "parameters")
    t.expect(
        [p.text for p in (after if after is not None else [])]
        == [p.text for p in (before if before is not None else [])],
        "parameters changed outside PENDING",
    )


async def _gone(t: CheckRun, url: str) -> None:
    r = await t.get(url)
    t.expect(r.status_code == 404, f"deleted job still answers {r.status_code}")
    _, root = await job_list(t)
    if root is not None:
        t.expect(
            job_id_of(url) not in {j.get("id") for j in jobrefs(root)},
            "deleted job is still listed",
        )


@check(
    "UWS-36",
    "DELETE job: 303 to the job list, then 404 and unlisted",
    "UWS 1.1 §2.2.3.4",
    Level.MUST,
)
async def delete_job(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.delete(doc.url)
    await _redirect_to_list(t, r, doc.url, "DELETE job")
    await _gone(t, doc.url)


@check(
    "UWS-37",
    "POST ACTION=DELETE deletes; POST without ACTION does not",
    "UWS 1.1 §2.2.3.4",
    Level.MUST,
)
async def action_delete(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.post(doc.url, data=[("RUNID", "not-a-delete")])
    t.expect(
        r.status_code != 303 or (await t.get(doc.url)).status_code == 200,
        "POST to the job without ACTION=DELETE deleted it",
    )
    still = await t.get(doc.url)
    t.expect(
        still.status_code == 200, f"job answers {still.status_code} after a POST without ACTION"
    )
    r = await t.post(doc.url, data=[("ACTION", "DELETE")])
    await _redirect_to_list(t, r, doc.url, "POST ACTION=DELETE")
    await _gone(t, doc.url)


@check(
    "UWS-38",
    "DELETE of an executing job stops it and forgets it",
    "UWS 1.1 §2.1.5, §2.2.3.4",
    Level.MUST,
)
async def delete_executing(t: CheckRun) -> None:
    url = await executing_job(t)
    r = await t.delete(url)
    await _redirect_to_list(t, r, url, "DELETE job")
    await asyncio.sleep(1.0)
    await _gone(t, url)
    t.note(
        "that the platform task was cancelled cannot be seen from outside; checked only "
        "that the job stays gone"
    )


@check(
    "UWS-39",
    "PUT/DELETE on the job list and DELETE on {job}/phase: 405/403, no change",
    "UWS 1.1 §2.2.3.4 (no other resource may be deleted)",
    Level.MUST,
)
async def forbidden_methods(t: CheckRun) -> None:
    doc = await pending_job(t)
    list_url = await jobs_url(t)
    for method, url in (
        ("PUT", list_url),
        ("DELETE", list_url),
        ("DELETE", child_url(doc.url, "phase")),
    ):
        r = await t.request(method, url)
        t.expect(
            r.status_code in (403, 404, 405) or 400 <= r.status_code < 500,
            f"{method} {url} answered {r.status_code}",
        )
        t.should(
            r.status_code in (403, 405), f"{method} {url} answered {r.status_code}, 405 expected"
        )
    after = await get_job(t, doc.url)
    t.expect(after.phase == "PENDING", "the job changed after forbidden requests")
    r, root = await job_list(t)
    t.expect(
        root is not None and job_id_of(doc.url) in {j.get("id") for j in jobrefs(root)},
        "the job list lost the job after DELETE on the list",
    )
