"""Checklist items 72-80: pyvo (optional) as a real client of the job interface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ivoa_broker_conformance.jobs import create_job, job_id_of, jobs_url
from ivoa_broker_conformance.model import Level, Outcome
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.pyvo_flow_support import in_thread, pyvo_session
from ivoa_broker_conformance.pyvo_support import import_pyvo
from ivoa_broker_conformance.registry import check

SECTION = "pyvo 1.9 AsyncTAPJob on a generic UWS"
#: the pyvo flows whose requests UWS-80 times
FLOWS = frozenset(f"UWS-{n}" for n in range(72, 80))
#: pyvo's timeout for plain GETs (DEFAULT_JOB_POLL_TIMEOUT)
PYVO_PLAIN_TIMEOUT = 10.0


async def _job(t: CheckRun, kind: str = "quick") -> tuple[Any, Any, str]:
    pyvo = import_pyvo(t)
    url = await create_job(t, kind)
    session = pyvo_session(t)
    job = await in_thread(
        t, "AsyncTAPJob(url)", lambda: pyvo.dal.tap.AsyncTAPJob(url, session=session)
    )
    return pyvo, job, url


@check("UWS-72", "AsyncTAPJob(J): phase PENDING, uws_version 1.1", SECTION, Level.SHOULD)
async def construct(t: CheckRun) -> None:
    _, job, _ = await _job(t)
    phase = await in_thread(t, "job.phase", lambda: job.phase)
    t.expect(phase == "PENDING", f"pyvo phase {phase!r}")
    version = await in_thread(t, "job.uws_version", lambda: job.uws_version)
    t.expect(str(version) == "1.1", f"pyvo uws_version {version!r}")


@check("UWS-73", "job.execution_duration = 120 is taken (or clamped)", SECTION, Level.SHOULD)
async def set_duration(t: CheckRun) -> None:
    _, job, _ = await _job(t)

    def act() -> float:
        job.execution_duration = 120
        return float(job.execution_duration.sec)

    value = await in_thread(t, "execution_duration = 120", act)
    t.expect(value > 0, f"pyvo reads execution_duration {value}")
    if value != 120:
        t.note(f"server clamped 120 to {value}")


@check(
    "UWS-74",
    "job.destruction = now + 1 day is accepted (6-digit fraction + Z)",
    SECTION,
    Level.SHOULD,
)
async def set_destruction(t: CheckRun) -> None:
    _, job, _ = await _job(t)
    when = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)

    def act() -> Any:
        job.destruction = when
        return job.destruction

    value = await in_thread(t, "destruction = datetime", act)
    t.expect(value is not None, "destruction is None after setting it")


@check(
    "UWS-75",
    "job.run().wait() completes; raise_if_error quiet; result_uris fetchable",
    SECTION,
    Level.SHOULD,
)
async def run_wait(t: CheckRun) -> None:
    _, job, _ = await _job(t)
    timeout = t.config.job_timeout

    def act() -> tuple[str, list[str]]:
        job.run()
        job.wait(timeout=timeout)
        job.raise_if_error()
        return job.phase, list(job.result_uris)

    phase, uris = await in_thread(t, "run().wait()", act)
    t.expect(phase == "COMPLETED", f"after wait() the job is {phase}")
    if not uris:
        t.note("job has no results to fetch")
    session = pyvo_session(t)
    for uri in uris:

        def fetch(u: str = uri) -> int:
            return int(session.get(u).status_code)

        status = await in_thread(t, f"GET {uri}", fetch)
        t.expect(status == 200, f"result {uri} answered {status}")


@check(
    "UWS-76",
    "Failing job: wait() returns, raise_if_error() raises DALQueryError",
    SECTION,
    Level.SHOULD,
)
async def run_fail(t: CheckRun) -> None:
    pyvo, job, _ = await _job(t, "failing")
    timeout = t.config.job_timeout

    def act() -> str:
        job.run()
        job.wait(timeout=timeout)
        try:
            job.raise_if_error()
        except pyvo.dal.DALQueryError as exc:
            return str(exc)
        return ""

    message = await in_thread(t, "run().wait() of a failing job", act)
    t.expect(message, "raise_if_error() did not raise for the failing job")
    t.expect("No useful error" not in message, f"pyvo found no errorSummary message: {message!r}")


@check("UWS-77", "job.run(); job.abort(); job.phase == ABORTED", SECTION, Level.SHOULD)
async def run_abort(t: CheckRun) -> None:
    _, job, _ = await _job(t, "long")

    def act() -> str:
        job.run()
        job.abort()
        return str(job.phase)

    phase = await in_thread(t, "run(); abort()", act)
    t.expect(phase == "ABORTED", f"after abort() pyvo sees {phase}")


@check("UWS-78", "job.delete() then 404; context manager deletes on exit", SECTION, Level.SHOULD)
async def delete(t: CheckRun) -> None:
    pyvo, job, url = await _job(t)
    await in_thread(t, "job.delete()", job.delete)
    r = await t.get(url)
    t.expect(r.status_code == 404, f"after delete() the job answers {r.status_code}")
    url2 = await create_job(t)
    session = pyvo_session(t)

    def ctx() -> None:
        with pyvo.dal.tap.AsyncTAPJob(url2, session=session):
            pass

    await in_thread(t, "with AsyncTAPJob(url)", ctx)
    r = await t.get(url2)
    t.expect(r.status_code == 404, f"after the with block the job answers {r.status_code}")


@check(
    "UWS-79", "pyvo parse_job_list gives the jobs with their ids and phases", SECTION, Level.SHOULD
)
async def job_list(t: CheckRun) -> None:
    import_pyvo(t)
    import io

    from pyvo.io.uws import parse_job_list

    from ivoa_broker_conformance.pyvo_support import caught

    url = await create_job(t)
    r = await t.get(await jobs_url(t))
    t.expect_status(r, 200)
    jobs = caught(t, "parse_job_list", lambda: parse_job_list(io.BytesIO(r.content)))
    seen = {j.jobid: j.phase for j in jobs}
    t.expect(
        seen.get(job_id_of(url)) == "PENDING",
        f"pyvo sees {seen.get(job_id_of(url))!r} for the new job",
    )


@check("UWS-80", "No plain request of the pyvo flows took more than 10 s", SECTION, Level.SHOULD)
async def timings(t: CheckRun) -> None:
    import_pyvo(t)
    flows = [r for r in t.session.results if r.id in FLOWS]
    broken = [r.id for r in flows if r.outcome in (Outcome.FAIL, Outcome.BLOCKED)]
    if broken:
        t.block(
            f"blocked by {', '.join(broken)}: timings say nothing while pyvo flows fail "
            "(a flow that fails early makes few, fast requests)"
        )
    if not t.session.pyvo_timings:
        t.skip("no pyvo requests were made in this run (run UWS-72..79 first)")
    slow = [(line, s) for line, s in t.session.pyvo_timings if s > PYVO_PLAIN_TIMEOUT]
    worst = max(s for _, s in t.session.pyvo_timings)
    t.note(f"{len(t.session.pyvo_timings)} plain pyvo requests, slowest {worst:.2f} s")
    t.expect(not slow, f"slow requests: {slow[:3]}")
