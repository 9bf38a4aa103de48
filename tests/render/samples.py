"""Sample job records for the renderer tests: every phase, owner and runId
set and unset, by-reference parameters, results, errors, awkward characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter

#: near "now" so that astropy/ERFA (inside pyvo) never warns about dubious years
T0 = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=2)
JOB_URL = "https://broker.example.org/svc/jobs/j-1"
JOBS_URL = "https://broker.example.org/svc/jobs"
NASTY = "a<b & c>d \"quoted\" 'single' ]]> &amp; é 日本 \t tab"


def _sample_jobs() -> dict[str, Job]:
    started = T0 + timedelta(minutes=1)
    ended = T0 + timedelta(minutes=5, microseconds=999999)
    destruction = T0 + timedelta(days=7)
    jobs: dict[str, Job] = {
        "pending-minimal": Job(job_id="j-1", owner=None, phase=Phase.PENDING, creation_time=T0),
        "pending-owned": Job(
            job_id="j-1",
            owner="alice@example.org",
            phase=Phase.PENDING,
            creation_time=T0,
            run_id="run 42",
            quote=T0 + timedelta(minutes=10),
            execution_duration=3600,
            destruction=destruction,
            parameters=(Parameter("cmd", "echo"), Parameter("cmd", "hi")),
        ),
        "executing": Job(
            job_id="j-1",
            owner="bob",
            phase=Phase.EXECUTING,
            creation_time=T0,
            start_time=started,
            destruction=destruction,
            parameters=(Parameter("image", "docker.io/library/python:3.11"),),
            results=(JobResult("partial", mime_type="text/plain", size=0),),
        ),
        "completed": Job(
            job_id="j-1",
            owner="alice@example.org",
            phase=Phase.COMPLETED,
            creation_time=T0,
            run_id="r1",
            start_time=started,
            end_time=ended,
            execution_duration=600,
            destruction=destruction,
            parameters=(
                Parameter("cmd", "python"),
                Parameter("arg", NASTY),
                Parameter("input", "https://data.example.org/in.fits?x=1&y=2", by_reference=True),
            ),
            results=(
                JobResult("stdout", mime_type="text/plain", size=1234),
                JobResult("my result/1 ü"),
                JobResult(
                    "external",
                    mime_type="application/x-votable+xml",
                    size=2**40,
                    href="https://store.example.org/r?id=1&sig=abc",
                ),
            ),
            job_info={"exit_code": "0"},
        ),
        "error": Job(
            job_id="j-1",
            owner=None,
            phase=Phase.ERROR,
            creation_time=T0,
            run_id=NASTY,
            start_time=started,
            end_time=ended,
            parameters=(Parameter("cmd", "false"),),
            error=JobError("fatal", f"exit code 1: {NASTY}", detail=f"Traceback\n  {NASTY}"),
            job_info={"exit_code": "1", "native_state": "FAILED", "note": NASTY},
        ),
        "error-transient-no-detail": Job(
            job_id="j-1",
            owner="carol",
            phase=Phase.ERROR,
            creation_time=T0,
            error=JobError("transient", "platform unreachable"),
        ),
        "aborted": Job(
            job_id="j-1",
            owner="alice@example.org",
            phase=Phase.ABORTED,
            creation_time=T0,
            start_time=started,
            end_time=ended,
            results=(JobResult("stdout", size=10),),
        ),
    }
    for phase in (Phase.QUEUED, Phase.UNKNOWN, Phase.HELD, Phase.SUSPENDED, Phase.ARCHIVED):
        jobs[phase.value.lower()] = Job(
            job_id="j-1", owner=None, phase=phase, creation_time=T0, run_id="r"
        )
    return jobs


SAMPLE_JOBS = _sample_jobs()


#: job list entries: owner/runId set and unset, an id needing URL quoting
SUMMARIES = [
    JobSummary("j-1", Phase.PENDING, T0),
    JobSummary("j 2", Phase.COMPLETED, T0, run_id=NASTY, owner="alice@example.org"),
    JobSummary("j-3", Phase.ERROR, T0, owner="bob"),
]
