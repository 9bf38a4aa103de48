"""Checklist items 1-10: the job list and job creation."""

from __future__ import annotations

from urllib.parse import urljoin

from ivoa_broker_conformance.jobs import create_job, get_job, job_id_of, job_list, jobrefs
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.xmlutil import INSTANT, XLINK, child_text, name_of, uws


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
    t.expect(
        root.get("version") == "1.1",
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
    for headers in ({"Accept": "*/*"}, {"Accept": None}):
        r = await t.get(t.session.jobs_url, headers=headers)
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


@check("UWS-04", "PHASE=RUN in the creation form starts the job", "UWS 1.1 §2.2.3.1", Level.SHOULD)
async def create_run_form(t: CheckRun) -> None:
    url = await create_job(t, extra=[("PHASE", "RUN")])
    doc = await get_job(t, url)
    t.expect(doc.phase != "PENDING", "job created with PHASE=RUN in the form is still PENDING")


@check("UWS-05", "?PHASE=RUN in the creation URL starts the job", "UWS 1.1 §2.2.3.1", Level.SHOULD)
async def create_run_query(t: CheckRun) -> None:
    url = await create_job(t, query=[("PHASE", "RUN")])
    doc = await get_job(t, url)
    t.expect(doc.phase != "PENDING", "job created with ?PHASE=RUN is still PENDING")


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
    "Parameter names are case-insensitive (runid, RunId, PHAse)",
    "DALI 1.1 §3.1 (parameter names case-insensitive)",
    Level.MUST,
)
async def case_insensitive(t: CheckRun) -> None:
    for spelling in ("runid", "RunId"):
        url = await create_job(t, extra=[(spelling, f"rid-{spelling}")])
        doc = await get_job(t, url)
        t.expect(
            doc.get("runId") == f"rid-{spelling}",
            f"{spelling}= was not taken as RUNID (runId {doc.get('runId')!r})",
        )
    url = await create_job(t)
    r = await t.post(url + "/phase", data=[("PHAse", "RUN")])
    t.expect(r.status_code == 303, f"PHAse=RUN answered {r.status_code}, expected 303")
    doc = await get_job(t, url)
    t.expect(doc.phase != "PENDING", "PHAse=RUN did not start the job")


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
    r = await t.post(t.session.jobs_url, data=list(t.config.bad_job_params))
    if r.status_code == 303 and r.headers.get("location"):
        t.session.remember_job(urljoin(t.session.jobs_url, r.headers["location"]), "main")
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


@check(
    "UWS-09",
    "multipart/form-data creation is accepted like urlencoded",
    "DALI 1.1 §3.1 (POST encodings)",
    Level.MUST,
)
async def multipart(t: CheckRun) -> None:
    url = await create_job(t, extra=[("RUNID", "multi")], multipart=True)
    doc = await get_job(t, url)
    t.expect(doc.get("runId") == "multi", "RUNID sent as multipart was lost")


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
            urljoin(t.session.jobs_url, href or "") == url,
            f"jobref xlink:href {href!r} does not resolve to the job URL {url}",
        )
    created = child_text(ref, "creationTime")
    if t.should(created, "jobref has no creationTime (UWS 1.1 added it)"):
        t.expect(
            INSTANT.match(created or ""),
            f"jobref creationTime {created!r} is not a UTC instant ending in Z",
        )
