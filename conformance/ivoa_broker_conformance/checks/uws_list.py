"""Checklist items 1-10: the job list and job creation."""

from __future__ import annotations

from lxml import etree

from ivoa_broker_conformance.jobs import (
    create_job,
    get_job,
    job_id_of,
    job_list,
    job_params,
    jobrefs,
    jobs_url,
    wait_for,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.urls import resolve
from ivoa_broker_conformance.xmlutil import INSTANT, XLINK, child, child_text, name_of, uws


@check(
    "UWS-01",
    "GET job list: 200, XML, uws:jobs version 1.1, schema-valid",
    "UWS 1.1 §2.2.1.1, §2.2.2.1, App. B",
    Level.MUST,
)
async def job_list_document(t: CheckRun) -> None:
    r, root = await job_list(t)
    t.expect_status(r, 200)
    t.expect_xml_type(r)
    assert root is not None
    t.expect(name_of(root) == uws("jobs"), f"root is {name_of(root)}, expected uws:jobs")
    t.expect_at(
        root.get("version") == "1.1",
        root,
        f"uws:jobs version attribute is {root.get('version')!r}, a 1.1 service must say 1.1",
    )
    t.expect_valid("uws", root, "job list")
    n = len(jobrefs(root))
    t.note(
        f"job list holds {n} jobref(s) before the suite created any job"
        + ("" if n == 0 else " (service not fresh; zero is only expected on a fresh service)")
    )


@check(
    "UWS-02",
    "Job list is XML for Accept */* and with no Accept header",
    "UWS 1.1 §2.2.2",
    Level.MUST,
)
async def job_list_default_xml(t: CheckRun) -> None:
    url = await jobs_url(t)
    for headers in ({"Accept": "*/*"}, {"Accept": None}):
        r = await t.get(url, headers=headers)
        t.expect_status(r, 200)
        t.expect_xml_type(r)
        root = t.xml(r, f"job list for Accept {headers['Accept'] or '(none)'}")
        t.expect(name_of(root) == uws("jobs"), "root is not uws:jobs")


@check(
    "UWS-03",
    "POST job list creates a job: 303, Location, job is PENDING",
    "UWS 1.1 §2.2.3.1",
    Level.MUST,
)
async def create_pending(t: CheckRun) -> None:
    url = await create_job(t)
    doc = await get_job(t, url)
    t.expect(doc.phase == "PENDING", f"new job is {doc.phase}, expected PENDING")


async def _leaves_pending(t: CheckRun, url: str, how: str) -> str:
    """The phase of a job asked to run at creation, given a few seconds to leave PENDING
    (the text does not say the phase changes before the 303 is sent)."""
    doc = await wait_for(t, url, {"QUEUED", "EXECUTING", "HELD"}, timeout=5.0, pending_ok=True)
    return doc.phase or ""


@check(
    "UWS-04",
    "PHASE=RUN in the creation form starts the job",
    "UWS 1.1 §2.2.3.1 (creating and running in one step is an option, not a rule)",
    Level.MAY,
)
async def create_run_form(t: CheckRun) -> None:
    url = await create_job(t, extra=[("PHASE", "RUN")])
    phase = await _leaves_pending(t, url, "PHASE=RUN in the form")
    if phase == "PENDING":
        t.skip(
            "the service does not start a job created with PHASE=RUN in the form (still "
            "PENDING after 5 s); UWS 1.1 offers this as an option, so it is not a fault"
        )
    t.note(f"job created with PHASE=RUN is {phase}")


@check(
    "UWS-05",
    "?PHASE=RUN in the creation URL starts the job",
    "DALI 1.1 §3.1 (POST parameters may also be in the query string); UWS 1.1 §2.2.3.1",
    Level.MAY,
)
async def create_run_query(t: CheckRun) -> None:
    url = await create_job(t, query=[("PHASE", "RUN")])
    phase = await _leaves_pending(t, url, "?PHASE=RUN")
    if phase == "PENDING":
        t.skip(
            "the service ignores PHASE=RUN in the query string of a creation POST; "
            "UWS 1.1 names only the form body, so this is not a fault"
        )


@check(
    "UWS-06",
    "RUNID is echoed as uws:runId in the job and its jobref",
    "UWS 1.1 §2.1.9; DALI §3.3 RUNID",
    Level.SHOULD,
)
async def run_id(t: CheckRun) -> None:
    url = await create_job(t, extra=[("RUNID", "conformance-abc")])
    doc = await get_job(t, url)
    t.expect(
        doc.get("runId") == "conformance-abc",
        f"uws:runId is {doc.get('runId')!r}, expected 'conformance-abc'",
    )
    r, root = await job_list(t)
    t.expect_status(r, 200)
    assert root is not None
    refs = [j for j in jobrefs(root) if j.get("id") == job_id_of(url)]
    t.expect(refs, "new job not in the job list")
    t.expect(
        child_text(refs[0], "runId") == "conformance-abc",
        "jobref runId differs from the RUNID given",
    )


@check(
    "UWS-07",
    "Parameter names are case-insensitive (PHAse, ExecutionDuration; runid when RUNID works)",
    "DALI 1.1 §3.1 (parameter names case-insensitive)",
    Level.MUST,
)
async def case_insensitive(t: CheckRun) -> None:
    url = await create_job(t)
    doc = await get_job(t, url)
    before = doc.get("executionDuration") or ""
    wanted = "61" if before != "61" else "62"
    r = await t.post(child_url(url, "executionduration"), data=[("ExecutionDuration", wanted)])
    t.expect(
        r.status_code == 303, f"ExecutionDuration={wanted} answered {r.status_code}, expected 303"
    )
    after = (await get_job(t, url)).get("executionDuration") or ""
    t.expect(
        after != before or before == wanted,
        f"ExecutionDuration={wanted} was ignored (executionDuration stays {before!r}); "
        "EXECUTIONDURATION spelled in mixed case must be understood",
    )
    if after != wanted:
        t.note(f"server chose executionDuration {after} for {wanted}")
    r = await t.post(child_url(url, "phase"), data=[("PHAse", "RUN")])
    t.expect(r.status_code == 303, f"PHAse=RUN answered {r.status_code}, expected 303")
    done = await wait_for(t, url, {"QUEUED", "EXECUTING", "HELD"}, timeout=5.0, pending_ok=True)
    t.expect(done.phase != "PENDING", "PHAse=RUN did not start the job")
    # RUNID is optional (UWS 1.1 §2.1.9): only probed in lower case if the service echoes it
    probe = await get_job(t, await create_job(t, extra=[("RUNID", "rid-upper")]))
    if probe.get("runId") != "rid-upper":
        t.note("the service does not echo RUNID (UWS-06), so 'runid' was not probed")
        return
    lower = await get_job(t, await create_job(t, extra=[("runid", "rid-lower")]))
    t.expect(
        lower.get("runId") == "rid-lower",
        f"runid= was not taken as RUNID (runId {lower.get('runId')!r})",
    )


@check(
    "UWS-08",
    "Rejected creation parameters give 4xx and create no job",
    "UWS 1.1 §2.2.3.1 (403 SHOULD); DALI §5.2 (400)",
    Level.SHOULD,
)
async def bad_creation(t: CheckRun) -> None:
    r0, before = await job_list(t)
    t.expect_status(r0, 200)
    assert before is not None
    ids_before = {j.get("id") for j in jobrefs(before)}
    url = await jobs_url(t)
    r = await t.post(url, data=list(t.config.bad_job_params) + list(t.config.extra_params))
    if r.status_code == 303 and r.headers.get("location"):
        t.session.remember_job(resolve(url, r.headers["location"]), "main")
    t.expect(
        400 <= r.status_code < 500,
        f"POST with rejected parameters {t.config.bad_job_params!r} answered "
        f"{r.status_code}, expected 4xx (set --bad-job-params to what the service rejects)",
    )
    t.should(
        r.status_code in (400, 403),
        f"status {r.status_code}: 403 (UWS) or 400 (DALI) are the expected codes",
    )
    _, after = await job_list(t)
    assert after is not None
    new = {j.get("id") for j in jobrefs(after)} - ids_before
    t.expect(not new, f"a rejected POST still created job(s) {sorted(map(str, new))}")


def _shown(doc_root: etree._Element) -> dict[str, list[str]]:
    params = child(doc_root, "parameters")
    shown: dict[str, list[str]] = {}
    for p in [] if params is None else params.findall(uws("parameter")):
        shown.setdefault((p.get("id") or "").lower(), []).append((p.text or "").strip())
    return shown


@check(
    "UWS-09",
    "multipart/form-data creation is accepted like urlencoded",
    "DALI 1.1 §3.1 (POST encodings)",
    Level.MUST,
)
async def multipart(t: CheckRun) -> None:
    form = await get_job(t, await create_job(t))
    url = await create_job(t, multipart=True)
    doc = await get_job(t, url)
    want, got = _shown(form.root), _shown(doc.root)
    for name, value in job_params(t, "quick"):
        key = name.lower()
        if value.strip() in want.get(key, []):  # shown for a urlencoded job: must match
            t.expect_at(
                value.strip() in got.get(key, []),
                child(doc.root, "parameters"),
                f"parameter {name}={value!r} sent as multipart/form-data is not shown "
                f"(shown: {got})",
            )


@check(
    "UWS-10",
    "Job list jobrefs: id, xlink:href = job URL, phase, creationTime in Z",
    "UWS 1.1 §2.2.2.1, App. B ShortJobDescription",
    Level.MUST,
)
async def jobref_content(t: CheckRun) -> None:
    url = await create_job(t)
    r, root = await job_list(t)
    t.expect_status(r, 200)
    assert root is not None
    refs = [j for j in jobrefs(root) if j.get("id") == job_id_of(url)]
    t.expect(len(refs) == 1, f"job {job_id_of(url)} appears {len(refs)} times in the list")
    ref = refs[0]
    t.expect(
        child_text(ref, "phase") == "PENDING",
        f"jobref phase is {child_text(ref, 'phase')!r}, expected PENDING",
    )
    href = ref.get(f"{{{XLINK}}}href")
    if t.should(href, "jobref has no xlink:href"):
        t.expect(
            resolve(str(r.url), href or "") == url,
            f"jobref xlink:href {href!r} does not resolve to the job URL {url}",
        )
    created = child_text(ref, "creationTime")
    if t.should(created, "jobref has no creationTime (UWS 1.1 added it)"):
        t.expect(
            INSTANT.match(created or ""),
            f"jobref creationTime {created!r} is not a UTC instant ending in Z",
        )
