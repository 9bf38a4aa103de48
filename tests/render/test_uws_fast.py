"""The text-template ``uws:job``/``uws:jobs`` give the very bytes lxml gives, and valid ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter
from ivoa_broker.render import job_xml, jobs_xml

from . import xmlread
from .lxml_reference import lxml_job_xml, lxml_jobs_xml
from .samples import JOB_URL, JOBS_URL, SAMPLE_JOBS, SUMMARIES, T0

# every character class the escaping distinguishes: markup, quotes, whitespace
# that attributes escape, controls XML cannot carry, surrogates, non-ASCII
_AWKWARD = st.sampled_from(
    [*"&<>\"'\t\n\r\x00\x01\x0b\x1f\x7f\ud800\udfff\ufffe\uffff]", "é", "日", "😀", "]]>"]
)
TEXT = st.lists(st.one_of(st.characters(), _AWKWARD), max_size=12).map("".join)
MAYBE = st.none() | TEXT
#: ids and URLs are URL-quoted, which needs encodable text (no lone surrogates)
IDS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
WHEN = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)

PARAMETERS = st.lists(st.builds(Parameter, TEXT, TEXT, st.booleans()), max_size=3).map(tuple)
RESULTS = st.lists(
    st.builds(JobResult, IDS, MAYBE, st.none() | st.integers(0, 2**50), MAYBE), max_size=3
).map(tuple)
ERRORS = st.none() | st.builds(JobError, st.sampled_from(["fatal", "transient"]), TEXT, MAYBE)
JOBS = st.builds(
    Job,
    job_id=IDS,
    owner=MAYBE,
    phase=st.sampled_from(list(Phase)),
    creation_time=WHEN.filter(lambda w: w is not None),
    run_id=MAYBE,
    quote=WHEN,
    start_time=WHEN,
    end_time=WHEN,
    execution_duration=st.integers(0, 10**9),
    destruction=WHEN,
    parameters=PARAMETERS,
    results=RESULTS,
    error=ERRORS,
    job_info=st.dictionaries(TEXT, TEXT, max_size=3),
)
SUMMARY = st.builds(
    JobSummary,
    job_id=IDS,
    phase=st.sampled_from(list(Phase)),
    creation_time=WHEN.filter(lambda w: w is not None),
    run_id=MAYBE,
    owner=MAYBE,
)


def test_samples_are_byte_identical() -> None:
    for job in SAMPLE_JOBS.values():
        assert job_xml(job, JOB_URL) == lxml_job_xml(job, JOB_URL)
    assert jobs_xml(SUMMARIES, JOBS_URL) == lxml_jobs_xml(SUMMARIES, JOBS_URL)
    assert jobs_xml([], JOBS_URL) == lxml_jobs_xml([], JOBS_URL)


@settings(max_examples=300, deadline=None)
@given(JOBS, IDS)
def test_any_job_is_byte_identical(job: Job, url_tail: str) -> None:
    url = f"{JOB_URL}{url_tail}"
    assert job_xml(job, url) == lxml_job_xml(job, url)


@settings(max_examples=200, deadline=None)
@given(st.lists(SUMMARY, max_size=5), IDS)
def test_any_list_is_byte_identical(summaries: list[JobSummary], url_tail: str) -> None:
    url = f"{JOBS_URL}{url_tail}"
    assert jobs_xml(summaries, url) == lxml_jobs_xml(summaries, url)
    # a second time from the fragment cache: the same again
    assert jobs_xml(summaries, url) == lxml_jobs_xml(summaries, url)


def test_cached_fragments_follow_the_url_and_the_record(uws_schema: xmlschema.XMLSchema) -> None:
    one = JobSummary("j-1", Phase.QUEUED, T0)
    first = jobs_xml([one], JOBS_URL)
    moved = jobs_xml([one], "https://elsewhere.example/jobs")
    assert b"https://elsewhere.example/jobs/j-1" in moved and moved != first
    later = JobSummary("j-1", Phase.COMPLETED, T0 + timedelta(seconds=1))
    changed = jobs_xml([later], JOBS_URL)
    assert b"COMPLETED" in changed and b"QUEUED" not in changed
    uws_schema.validate(xmlread.parse(changed))


@settings(max_examples=60, deadline=None)
@given(JOBS)
def test_any_job_is_well_formed(job: Job) -> None:
    # schema validity is checked on the samples (test_uws_xml); arbitrary text
    # must still make a document an XML parser reads
    xmlread.parse(job_xml(job, JOB_URL))
