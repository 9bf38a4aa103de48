"""Checklist items 11-17: the job document."""

from __future__ import annotations

from ivoa_broker_conformance.jobs import (
    create_job,
    finished_job,
    get_job,
    job_list,
    jobrefs,
    jobs_url,
    pending_job,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.pyvo_support import import_pyvo, parse_job_strict
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.structure import job_problems
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.xmlutil import INSTANT, child, child_text, is_nil, uws

TIME_ELEMENTS = ("quote", "creationTime", "startTime", "endTime", "destruction")


@check(
    "UWS-11",
    "GET job: 200, uws:job version 1.1, children in schema order, schema-valid",
    "UWS 1.1 §2.2.1.1, App. B JobSummary",
    Level.MUST,
)
async def job_document(t: CheckRun) -> None:
    doc = await pending_job(t)
    t.expect_xml_type(doc.response)
    t.expect(
        doc.root.get("version") == "1.1",
        f"uws:job version attribute is {doc.root.get('version')!r}, a 1.1 service must say 1.1",
    )
    problems = job_problems(doc.root)
    t.expect_at(not problems, doc.root, "job structure: " + "; ".join(problems))
    t.expect_valid("uws", doc.root, "PENDING job")
    done = await finished_job(t, "quick")
    problems = job_problems(done.root)
    t.expect_at(not problems, done.root, "finished job structure: " + "; ".join(problems))
    t.expect_valid("uws", done.root, "finished job")


@check(
    "UWS-12",
    "PENDING job: nil startTime/endTime, results present, ownerId present",
    "UWS 1.1 App. B (nillable elements)",
    Level.MUST,
)
async def pending_nils(t: CheckRun) -> None:
    doc = await pending_job(t)
    for name in ("startTime", "endTime"):
        el = child(doc.root, name)
        t.expect_at(
            el is not None, doc.root, f'uws:{name} missing; write <uws:{name} xsi:nil="true"/>'
        )
        assert el is not None
        t.expect_at(is_nil(el), el, f'uws:{name} of a PENDING job is not xsi:nil="true"')
    t.expect(child(doc.root, "results") is not None, "uws:results missing (may be empty)")
    owner = child(doc.root, "ownerId")
    t.expect(owner is not None, 'uws:ownerId missing (xsi:nil="true" when anonymous)')
    assert owner is not None
    t.expect(is_nil(owner) or (owner.text or "").strip(), "uws:ownerId is empty but not xsi:nil")


@check("UWS-13", "creationTime present", "UWS 1.1 §2.1.x creationTime (1.1 text)", Level.MUST)
async def creation_time(t: CheckRun) -> None:
    doc = await pending_job(t)
    t.expect(doc.get("creationTime"), "uws:creationTime missing or empty")


@check(
    "UWS-14",
    "All instants are UTC with the Z designator (no +00:00)",
    "UWS 1.1 §2.2.1 (ISO 8601, T, Z)",
    Level.MUST,
)
async def instants(t: CheckRun) -> None:
    bad: list[str] = []
    for doc in (await pending_job(t), await finished_job(t, "quick")):
        for name in TIME_ELEMENTS:
            value = child_text(doc.root, name)
            if value and not INSTANT.match(value):
                bad.append(f"uws:{name}={value!r}")
                t.focus(child(doc.root, name))
    _, root = await job_list(t)
    if root is not None:
        for ref in jobrefs(root):
            value = child_text(ref, "creationTime")
            if value and not INSTANT.match(value):
                bad.append(f"jobref creationTime={value!r}")
                break
    t.expect(not bad, "instants not of the form YYYY-MM-DDThh:mm:ss[.f]Z: " + ", ".join(bad))


@check(
    "UWS-15",
    "pyvo parses the job without warnings; version, jobid, phase match",
    "pyvo.io.uws.parse_job",
    Level.SHOULD,
)
async def pyvo_parses_job(t: CheckRun) -> None:
    import_pyvo(t)
    doc = await pending_job(t)
    job = parse_job_strict(t, doc.response.content)
    t.expect(job.version == "1.1", f"pyvo sees version {job.version!r}")
    t.expect(job.jobid == doc.get("jobId"), "pyvo jobid differs")
    t.expect(job.phase == "PENDING", f"pyvo phase {job.phase!r}")


@check("UWS-16", "Unknown job and its children give 404", "UWS 1.1 §2.2", Level.MUST)
async def unknown_job(t: CheckRun) -> None:
    base = child_url(await jobs_url(t), "conformance-no-such-job")
    for url in (base, child_url(base, "phase"), child_url(base, "results")):
        r = await t.get(url)
        t.expect(r.status_code == 404, f"GET {url} gave {r.status_code}, expected 404")


@check(
    "UWS-17",
    "Creation parameters appear as uws:parameter id=name",
    "UWS 1.1 §2.1.11, §2.2.2.4",
    Level.MUST,
)
async def parameters_shown(t: CheckRun) -> None:
    url = await create_job(t)
    doc = await get_job(t, url)
    params = child(doc.root, "parameters")
    t.expect(params is not None, "job has no uws:parameters")
    assert params is not None
    shown: dict[str, list[str]] = {}
    for p in params.findall(uws("parameter")):
        shown.setdefault((p.get("id") or "").lower(), []).append(p.text or "")
    for name, value in t.config.job_params:
        t.expect(
            value in shown.get(name.lower(), []),
            f"parameter {name}={value!r} not shown (shown: {shown})",
        )
