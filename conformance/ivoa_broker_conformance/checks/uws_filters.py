"""Checklist items 52-58: job list filters PHASE, LAST, AFTER."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from lxml import etree

from ivoa_broker_conformance.checks.uws_outcome import destroyed_job
from ivoa_broker_conformance.jobs import (
    create_job,
    finished_job,
    get_job,
    job_id_of,
    job_list,
    jobrefs,
    jobs_url,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.xmlutil import child_text


def _instant(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None


def _phases(root: etree._Element) -> dict[str, str]:
    return {j.get("id") or "": child_text(j, "phase") or "" for j in jobrefs(root)}


async def _listed(t: CheckRun, params: list[tuple[str, str]]) -> dict[str, str]:
    r, root = await job_list(t, params)
    t.expect(
        r.status_code == 200 and root is not None,
        f"job list with {params} answered {r.status_code}",
    )
    assert root is not None
    return _phases(root)


@check("UWS-52", "PHASE=COMPLETED lists only COMPLETED jobs", "UWS 1.1 §2.2.2.1", Level.SHOULD)
async def phase_filter(t: CheckRun) -> None:
    done = await finished_job(t, "quick")
    await create_job(t)  # a PENDING one that must not show up
    listed = await _listed(t, [("PHASE", "COMPLETED")])
    others = {k: v for k, v in listed.items() if v != "COMPLETED"}
    t.expect(not others, f"PHASE=COMPLETED also listed {others}")
    t.expect(job_id_of(done.url) in listed, "PHASE=COMPLETED did not list a COMPLETED job")


@check("UWS-53", "Repeated PHASE is a union", "UWS 1.1 §2.2.2.1", Level.SHOULD)
async def phase_union(t: CheckRun) -> None:
    done = await finished_job(t, "quick")
    failed = await finished_job(t, "failing")
    await create_job(t)
    listed = await _listed(t, [("PHASE", "COMPLETED"), ("PHASE", "ERROR")])
    t.expect(set(listed.values()) <= {"COMPLETED", "ERROR"}, f"union listed {listed}")
    t.expect(
        {job_id_of(done.url), job_id_of(failed.url)} <= set(listed),
        "COMPLETED and ERROR jobs are not both listed",
    )


@check(
    "UWS-54",
    "Default list omits ARCHIVED jobs; PHASE=ARCHIVED lists them",
    "UWS 1.1 §2.2.2.1",
    Level.MUST,
)
async def archived(t: CheckRun) -> None:
    default = await _listed(t, [])
    listed_archived = {k for k, v in default.items() if v == "ARCHIVED"}
    t.expect(not listed_archived, f"default job list shows ARCHIVED jobs {listed_archived}")
    state, url = await destroyed_job(t)
    if state != "ARCHIVED":
        t.skip(
            f"the service does not archive destroyed jobs (job is {state}); nothing to "
            "list with PHASE=ARCHIVED"
        )
    default = await _listed(t, [])
    t.expect(job_id_of(url) not in default, "ARCHIVED job is in the default list")
    only = await _listed(t, [("PHASE", "ARCHIVED")])
    t.expect(job_id_of(url) in only, "PHASE=ARCHIVED does not list the ARCHIVED job")


@check(
    "UWS-55",
    "LAST=2 gives the 2 newest, sorted by descending creationTime",
    "UWS 1.1 §2.2.2.1 (LAST)",
    Level.SHOULD,
)
async def last_filter(t: CheckRun) -> None:
    for _ in range(3):
        await create_job(t)
        await asyncio.sleep(0.05)
    r, root = await job_list(t, [("LAST", "2")])
    t.expect(r.status_code == 200 and root is not None, f"LAST=2 answered {r.status_code}")
    assert root is not None
    refs = jobrefs(root)
    t.expect(len(refs) == 2, f"LAST=2 listed {len(refs)} jobs")
    times = [child_text(j, "creationTime") or "" for j in refs]
    t.expect(times == sorted(times, reverse=True), f"LAST=2 order is not descending: {times}")
    newest = t.session.created[-1][0]
    t.expect(refs[0].get("id") == job_id_of(newest), "LAST=2 does not start with the newest job")
    # the text says LAST is a positive integer but not what a bad value gets: noted only
    url = await jobs_url(t)
    answers = []
    for bad in ("0", "-1", "x"):
        r = await t.get(url, params=[("LAST", bad)])
        answers.append(f"LAST={bad}: {r.status_code}")
    t.note("answers to values that are not a positive integer: " + ", ".join(answers))


@check(
    "UWS-56",
    "AFTER=<t> (Z and .ffffffZ) lists only jobs created after t; bad t 4xx",
    "UWS 1.1 §2.2.2.1",
    Level.SHOULD,
)
async def after_filter(t: CheckRun) -> None:
    old = await create_job(t)
    shown = child_text((await get_job(t, old)).root, "creationTime")
    created = _instant(shown)
    t.expect(created is not None, "job has no parsable creationTime to filter on")
    assert created is not None
    # a creationTime in whole seconds may be up to 1 s off the instant the server filters on
    # (truncated or rounded): cut-offs then keep a full second from it
    whole = "." not in (shown or "")
    step = 1.0 if whole else 0.0
    if whole:
        t.note(f"creationTime {shown} is in whole seconds: cut-offs keep 1 s clear of it")
    await asyncio.sleep(1.2 + 1.5 * step)
    new = await create_job(t)
    cuts = (
        (created.replace(microsecond=0) + timedelta(seconds=1 + step)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        (created + timedelta(seconds=0.5 + step)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    for cut in cuts:
        listed = await _listed(t, [("AFTER", cut)])
        t.expect(job_id_of(new) in listed, f"AFTER={cut} omits a newer job")
        t.expect(job_id_of(old) not in listed, f"AFTER={cut} lists an older job")
    r = await t.get(await jobs_url(t), params=[("AFTER", "yesterday")])
    t.expect(400 <= r.status_code < 500, f"AFTER=yesterday answered {r.status_code}")


@check("UWS-57", "PHASE, LAST and AFTER combine with logical AND", "UWS 1.1 §2.2.2.1", Level.SHOULD)
async def combined(t: CheckRun) -> None:
    await finished_job(t, "quick")
    a = await create_job(t)
    created = _instant(child_text((await get_job(t, a)).root, "creationTime"))
    t.expect(created is not None, "job has no parsable creationTime to filter on")
    assert created is not None
    cut = created - timedelta(seconds=1)
    await asyncio.sleep(0.05)
    b = await create_job(t)
    listed = await _listed(
        t, [("PHASE", "PENDING"), ("LAST", "1"), ("AFTER", cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))]
    )
    t.expect(
        list(listed) == [job_id_of(b)],
        f"combined filter listed {listed}, expected only {job_id_of(b)} (not {job_id_of(a)})",
    )


@check("UWS-58", "PHASE=NOTAPHASE gives 4xx", "UWS 1.1 §2.2.2.1", Level.SHOULD)
async def bad_phase(t: CheckRun) -> None:
    r = await t.get(await jobs_url(t), params=[("PHASE", "NOTAPHASE")])
    t.expect(400 <= r.status_code < 500, f"PHASE=NOTAPHASE answered {r.status_code}")
