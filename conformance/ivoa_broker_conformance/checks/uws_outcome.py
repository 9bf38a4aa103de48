"""Checklist items 40-44: how jobs end."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from ivoa_broker_conformance.config import DEFAULT_DESTRUCTION_WAIT
from ivoa_broker_conformance.jobs import (
    create_job,
    finished_job,
    get_job,
    job_id_of,
    job_list,
    jobrefs,
    run_job,
    wait_for,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.xmlutil import child, uws

#: how far in the future a destruction time is set for the destruction check (s)
DESTRUCTION_DELAY = 2.0


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@check(
    "UWS-40",
    "A successful job reaches COMPLETED with creation <= start <= end",
    "UWS 1.1 §2.1.3, §2.1.x times",
    Level.MUST,
)
async def completed(t: CheckRun) -> None:
    doc = await finished_job(t, "quick")
    t.expect(doc.phase == "COMPLETED", f"the quick job ended {doc.phase} (set --job-params)")
    created, start, end = (_instant(doc.get(n)) for n in ("creationTime", "startTime", "endTime"))
    t.expect(start is not None and end is not None, "startTime/endTime nil after completion")
    assert start is not None
    assert end is not None
    t.expect(start <= end, f"startTime {start} is after endTime {end}")
    if created is not None:
        t.expect(created <= start, f"creationTime {created} is after startTime {start}")


@check(
    "UWS-41",
    "A failing job: 200, ERROR, errorSummary with type, hasDetail, message",
    "UWS 1.1 §2.2.2.5, App. B ErrorSummary",
    Level.MUST,
)
async def failed(t: CheckRun) -> None:
    doc = await finished_job(t, "failing")
    t.expect(doc.phase == "ERROR", f"the failing job ended {doc.phase} (set --failing-job-params)")
    summary = child(doc.root, "errorSummary")
    t.expect(
        summary is not None,
        "ERROR job has no uws:errorSummary (SHOULD, and pyvo "
        "reports '<No useful error from server>')",
    )
    assert summary is not None
    t.expect(
        summary.get("type") in ("transient", "fatal"),
        f"errorSummary type {summary.get('type')!r} is not transient|fatal",
    )
    t.expect(
        summary.get("hasDetail") in ("true", "false", "1", "0"),
        f"errorSummary hasDetail {summary.get('hasDetail')!r} is not a boolean",
    )
    message = summary.find(uws("message"))
    t.expect(
        message is not None and (message.text or "").strip(),
        "errorSummary has no non-empty uws:message child",
    )


@check(
    "UWS-42",
    "hasDetail=true: GET {job}/error gives 200 VOTable or text/plain",
    "UWS 1.1 §2.2.2.5; DALI §5.2",
    Level.SHOULD,
)
async def error_detail(t: CheckRun) -> None:
    doc = await finished_job(t, "failing")
    summary = child(doc.root, "errorSummary")
    if summary is None or summary.get("hasDetail") not in ("true", "1"):
        t.skip("failing job does not claim hasDetail=true")
    r = await t.get(child_url(doc.url, "error"))
    t.expect_status(r, 200)
    ctype = r.headers.get("content-type", "").split(";")[0].strip()
    if ctype == "text/plain":
        t.expect(r.text.strip(), "error detail is empty")
        return
    t.expect(
        "votable" in ctype or ctype in ("application/xml", "text/xml"),
        f"error detail content type {ctype!r} is neither text/plain nor a VOTable",
    )
    t.expect(
        b"QUERY_STATUS" in r.content and b"ERROR" in r.content,
        "VOTable error document lacks INFO name=QUERY_STATUS value=ERROR",
    )


@check(
    "UWS-43",
    "A job exceeding its executionDuration is aborted (ABORTED or ERROR)",
    "UWS 1.1 §2.1.6",
    Level.SHOULD,
)
async def duration_enforced(t: CheckRun) -> None:
    url = await create_job(t, "long")
    r = await t.post(child_url(url, "executionduration"), data=[("EXECUTIONDURATION", "1")])
    t.expect(r.status_code == 303, f"POST executionduration answered {r.status_code}")
    doc = await get_job(t, url)
    chosen = int(doc.get("executionDuration") or "0")
    if chosen == 0 or chosen > 20:
        t.skip(f"server chose executionDuration {chosen} for 1; too long to wait for")
    await run_job(t, url)
    grace = t.config.duration_tolerance
    end = await wait_for(t, url, {"ABORTED", "ERROR", "COMPLETED"}, timeout=chosen + grace)
    t.expect(
        end.phase in ("ABORTED", "ERROR"), f"job with executionDuration {chosen}s ended {end.phase}"
    )


async def destroyed_job(t: CheckRun) -> tuple[str, str]:
    """A job whose destruction time passed: ('gone'|'ARCHIVED'|other phase, url)."""

    async def make() -> tuple[str, str]:
        url = await create_job(t)
        when = datetime.now(UTC) + timedelta(seconds=DESTRUCTION_DELAY)
        r = await t.post(
            child_url(url, "destruction"),
            data=[("DESTRUCTION", when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))],
        )
        t.expect(r.status_code == 303, f"POST destruction answered {r.status_code}")
        doc = await get_job(t, url)
        chosen = _instant(doc.get("destruction"))
        if chosen is None or chosen - datetime.now(UTC) > timedelta(seconds=20):
            t.skip(
                f"server chose destruction {doc.get('destruction')} for "
                f"{DESTRUCTION_DELAY} s ahead; too far to wait for"
            )
        tolerance = t.config.destruction_tolerance
        if tolerance is None:
            tolerance = DEFAULT_DESTRUCTION_WAIT
        deadline = time.monotonic() + (chosen - datetime.now(UTC)).total_seconds() + tolerance
        while True:
            r = await t.get(url, record=False)
            if r.status_code == 404:
                return "gone", url
            if r.status_code == 200 and b"ARCHIVED" in r.content:
                return "ARCHIVED", url
            if time.monotonic() > deadline:
                return (await get_job(t, url)).phase or "?", url
            await asyncio.sleep(0.5)

    state, url = await t.session.once("destroyed", make, t.check_id)
    t.note(f"job {url} after its destruction time: {state}")
    return state, url


@check(
    "UWS-44",
    "After its destruction time a job is gone (404) or ARCHIVED",
    "UWS 1.1 §2.1.7, §2.1.3 ARCHIVED",
    Level.MUST,
)
async def destruction_enforced(t: CheckRun) -> None:
    state, url = await destroyed_job(t)
    await t.get(url)
    tolerance = t.config.destruction_tolerance
    if tolerance is None and state not in ("gone", "ARCHIVED"):
        t.skip(
            f"inconclusive: job still {state} {DEFAULT_DESTRUCTION_WAIT:.0f} s after its "
            "destruction time; UWS 1.1 §2.1.7 sets no precision (services sweep on a timer), "
            "so pass --destruction-tolerance SECONDS to make this a verdict"
        )
    tolerance = tolerance or DEFAULT_DESTRUCTION_WAIT
    t.note(f"watched {tolerance:.0f} s past the destruction time (UWS 1.1 §2.1.7: no precision)")
    t.expect(
        state in ("gone", "ARCHIVED"),
        f"job still {state} {tolerance:.0f} s after its destruction time "
        "(raise --destruction-tolerance if the service sweeps less often)",
    )
    if state == "ARCHIVED":
        _, root = await job_list(t)
        t.expect(
            root is not None and job_id_of(url) not in {j.get("id") for j in jobrefs(root)},
            "ARCHIVED job is listed without PHASE=ARCHIVED",
        )
