"""Checklist items 18-27: the job's child resources."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from ivoa_broker_conformance.jobs import finished_job, pending_job
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.xmlutil import (
    INSTANT,
    PHASES,
    XLINK,
    child,
    name_of,
    uws,
)


def _plain(t: CheckRun, r: httpx.Response, what: str) -> str:
    t.expect_status(r, 200)
    ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
    t.expect(
        ctype == "text/plain",
        f"{what}: content type {ctype or '(none)'}, expected text/plain (UWS §2.2.2 atomic values)",
    )
    return r.text.strip()


@check(
    "UWS-18",
    "GET {job}/phase: text/plain, one of the phase names",
    "UWS 1.1 §2.2.1, §2.1.3",
    Level.MUST,
)
async def phase_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    value = _plain(t, await t.get(child_url(doc.url, "phase")), "phase")
    t.expect(value in PHASES, f"phase body {value!r} is not a UWS phase")
    t.expect(value == doc.phase, f"phase body {value!r} differs from job phase {doc.phase}")


@check(
    "UWS-19",
    "GET {job}/executionduration: integer >= 0 equal to the job's",
    "UWS 1.1 §2.1.6, §2.2.1",
    Level.MUST,
)
async def duration_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    value = _plain(t, await t.get(child_url(doc.url, "executionduration")), "executionduration")
    t.expect(value.isdigit(), f"executionduration body {value!r} is not an integer >= 0")
    t.expect(
        value == doc.get("executionDuration"),
        f"executionduration {value!r} differs from the job's {doc.get('executionDuration')!r}",
    )


@check(
    "UWS-20",
    "GET {job}/destruction: Z instant equal to the job's, or empty",
    "UWS 1.1 §2.1.7, §2.2.1",
    Level.MUST,
)
async def destruction_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    value = _plain(t, await t.get(child_url(doc.url, "destruction")), "destruction")
    in_job = doc.get("destruction")
    if in_job is None:
        t.expect(value == "", f"job destruction is nil but the resource says {value!r}")
    else:
        t.expect(INSTANT.match(value), f"destruction {value!r} is not a Z instant")
        t.expect(value == in_job, f"destruction {value!r} differs from the job's {in_job!r}")


@check(
    "UWS-21",
    "GET {job}/quote: Z instant or empty, consistent with the job",
    "UWS 1.1 §2.1.5, §2.2.1",
    Level.MUST,
)
async def quote_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    value = _plain(t, await t.get(child_url(doc.url, "quote")), "quote")
    in_job = doc.get("quote")
    if not in_job:
        t.expect(value == "", f"job quote is nil/absent but the resource says {value!r}")
    else:
        t.expect(INSTANT.match(value), f"quote {value!r} is not a Z instant")
        t.expect(value == in_job, f"quote {value!r} differs from the job's {in_job!r}")


@check(
    "UWS-22",
    "GET {job}/owner: text/plain, the ownerId (empty or NULL when anonymous)",
    "UWS 1.1 §2.1.8, §2.2.1",
    Level.MUST,
)
async def owner_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    value = _plain(t, await t.get(child_url(doc.url, "owner")), "owner")
    owner = doc.get("ownerId")
    if owner is None:
        t.expect(value in ("", "NULL"), f"ownerId is nil but owner says {value!r}")
        t.note(f"anonymous owner is served as {value!r}")
    else:
        t.expect(value == owner, f"owner {value!r} differs from ownerId {owner!r}")


@check(
    "UWS-23",
    "GET {job}/parameters: uws:parameters, schema-valid, same as in the job",
    "UWS 1.1 §2.2.2.4",
    Level.MUST,
)
async def parameters_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(child_url(doc.url, "parameters"))
    t.expect_status(r, 200)
    root = t.xml(r, "parameters")
    t.expect(name_of(root) == uws("parameters"), f"root is {name_of(root)}")
    t.expect_valid("uws", root, "parameters")
    in_job = child(doc.root, "parameters")
    got = sorted(((p.get("id") or "").lower(), p.text or "") for p in root)
    in_job_items = list(in_job) if in_job is not None else []
    want = sorted(((p.get("id") or "").lower(), p.text or "") for p in in_job_items)
    t.expect(got == want, f"parameters resource {got} differs from the job's {want}")


@check(
    "UWS-24",
    "GET {job}/results: uws:results, schema-valid, also when empty",
    "UWS 1.1 §2.2.2.3",
    Level.MUST,
)
async def results_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(child_url(doc.url, "results"))
    t.expect(
        r.status_code == 200,
        f"results of a PENDING job gave {r.status_code}; the list must exist even when empty",
    )
    root = t.xml(r, "results")
    t.expect(name_of(root) == uws("results"), f"root is {name_of(root)}")
    t.expect_valid("uws", root, "empty results")


@check(
    "UWS-25",
    "Results have unique ids and fetchable xlink:href; mime-type/size match",
    "UWS 1.1 §2.2.2.3, App. B ResultReference",
    Level.MUST,
)
async def results_fetchable(t: CheckRun) -> None:
    doc = await finished_job(t, "quick")
    results = child(doc.root, "results")
    items = [] if results is None else results.findall(uws("result"))
    if not items:
        t.skip("the quick job produced no results to fetch")
    ids = [r.get("id") for r in items]
    t.expect(len(set(ids)) == len(ids), f"duplicate result ids {ids}")
    for item in items:
        href = item.get(f"{{{XLINK}}}href")
        t.expect(href, f"result {item.get('id')} has no xlink:href")
        r = await t.get(urljoin(doc.url, href or ""))
        t.expect(r.status_code in (200, 303), f"result {href} gave {r.status_code}")
        if r.status_code != 200:
            continue
        mime = item.get("mime-type")
        if mime:
            got = r.headers.get("content-type", "").split(";")[0].strip()
            t.expect(
                got == mime.split(";")[0].strip(),
                f"result {href}: mime-type {mime!r} but served as {got!r}",
            )
        size = item.get("size")
        if size:
            t.expect(
                int(size) == len(r.content),
                f"result {href}: size {size} but {len(r.content)} bytes served",
            )


@check(
    "UWS-26",
    "GET {job}/error of a job that has not failed gives 404",
    "DALI 1.1 §5.2 (async error); UWS 1.1 §2.2.2.5",
    Level.SHOULD,
)
async def error_not_failed(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(child_url(doc.url, "error"))
    t.expect(r.status_code == 404, f"error of a PENDING job gave {r.status_code}, expected 404")


@check("UWS-27", "GET {job}/<unknown child> gives 404", "UWS 1.1 §2.2", Level.MUST)
async def unknown_child(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(child_url(doc.url, "conformance-no-such-child"))
    t.expect(r.status_code == 404, f"unknown child gave {r.status_code}, expected 404")
