from __future__ import annotations

import io
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import astropy.io.votable
import pytest
import pyvo.io.uws
import xmlschema
from astropy.io.votable import parse as parse_votable
from astropy.time import Time

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter
from ivoa_broker.render import (
    error_votable,
    format_instant,
    job_xml,
    jobs_xml,
    parameters_xml,
    results_xml,
)

from . import xmlread
from .samples import JOB_URL, JOBS_URL, NASTY, SAMPLE_JOBS, SUMMARIES, T0
from .xmlread import INSTANT_RE, UWS, XLINK, XSI

JOB_CHILDREN = [
    "jobId",
    "runId",
    "ownerId",
    "phase",
    "quote",
    "creationTime",
    "startTime",
    "endTime",
    "executionDuration",
    "destruction",
    "parameters",
    "results",
    "errorSummary",
    "jobInfo",
]
INSTANT_ELEMENTS = ["quote", "creationTime", "startTime", "endTime", "destruction"]


def _pyvo_time(value: Time | None) -> str | None:
    """pyvo's astropy Time back in our format (``isot`` has milliseconds)."""
    return None if value is None else f"{value.isot}Z"


def _strict_parse(parser: Any, doc: bytes) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return parser(io.BytesIO(doc))


def local_names(element: Any) -> list[str]:
    return [child.tag.removeprefix(UWS) for child in element]


def test_samples_cover_every_phase() -> None:
    assert {job.phase for job in SAMPLE_JOBS.values()} == set(Phase)


# ------------------------------------------------------------------ uws:job


def test_job_validates_against_uws_xsd(any_job: Job, uws_schema: xmlschema.XMLSchema) -> None:
    uws_schema.validate(xmlread.parse(job_xml(any_job, JOB_URL)))


def test_schema_rejects_a_dropped_nillable(pending_job: Job, uws_schema: xmlschema.XMLSchema):
    """The oracle can fail: leaving out a nil element (as vo-models does) is invalid."""
    root = xmlread.parse(job_xml(pending_job, JOB_URL))
    root.remove(root.find(f"{UWS}startTime"))
    assert not uws_schema.is_valid(root)


def test_job_root_and_declaration(any_job: Job) -> None:
    doc = job_xml(any_job, JOB_URL)
    assert doc.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = xmlread.parse(doc)
    assert root.tag == f"{UWS}job"
    assert root.get("version") == "1.1"
    assert root.prefix == "uws"


def test_pending_minimal_job_has_nils_and_empty_lists(pending_job: Job) -> None:
    root = xmlread.parse(job_xml(pending_job, JOB_URL))
    assert local_names(root) == [
        "jobId",
        "ownerId",
        "phase",
        "quote",
        "creationTime",
        "startTime",
        "endTime",
        "executionDuration",
        "destruction",
        "parameters",
        "results",
    ]
    for local in ["ownerId", "quote", "startTime", "endTime", "destruction"]:
        element = root.find(f"{UWS}{local}")
        assert element.get(f"{XSI}nil") == "true", local
        assert element.text is None
        assert len(element) == 0
    assert root.find(f"{UWS}executionDuration").text == "0"
    assert len(root.find(f"{UWS}parameters")) == 0
    assert len(root.find(f"{UWS}results")) == 0


def test_job_children_in_xsd_order(any_job: Job) -> None:
    names = local_names(xmlread.parse(job_xml(any_job, JOB_URL)))
    assert names == [n for n in JOB_CHILDREN if n in names]
    # always present, whatever the phase
    for required in [
        "jobId",
        "ownerId",
        "phase",
        "quote",
        "creationTime",
        "startTime",
        "endTime",
        "executionDuration",
        "destruction",
        "parameters",
        "results",
    ]:
        assert required in names
    assert ("runId" in names) == (any_job.run_id is not None)
    assert ("errorSummary" in names) == (any_job.error is not None)
    assert ("jobInfo" in names) == bool(any_job.job_info)


def test_job_instants_are_utc_z(any_job: Job) -> None:
    root = xmlread.parse(job_xml(any_job, JOB_URL))
    seen = 0
    for local in INSTANT_ELEMENTS:
        text = xmlread.nillable(root.find(f"{UWS}{local}"))
        if text is not None:
            assert re.match(INSTANT_RE, text), (local, text)
            seen += 1
    assert seen >= 1  # creationTime at least


def test_job_values(completed_job: Job) -> None:
    root = xmlread.parse(job_xml(completed_job, JOB_URL))
    assert root.find(f"{UWS}jobId").text == "j-1"
    assert root.find(f"{UWS}runId").text == "r1"
    assert root.find(f"{UWS}ownerId").text == "alice@example.org"
    assert root.find(f"{UWS}phase").text == "COMPLETED"
    assert root.find(f"{UWS}creationTime").text == format_instant(T0)
    assert completed_job.end_time is not None
    assert root.find(f"{UWS}endTime").text == format_instant(completed_job.end_time)
    assert root.find(f"{UWS}executionDuration").text == "600"


def test_parameters_with_by_reference_and_escaping(completed_job: Job) -> None:
    root = xmlread.parse(job_xml(completed_job, JOB_URL))
    params = root.find(f"{UWS}parameters").findall(f"{UWS}parameter")
    assert [(p.get("id"), p.text, p.get("byReference")) for p in params] == [
        ("cmd", "python", None),
        ("arg", NASTY, None),
        ("input", "https://data.example.org/in.fits?x=1&y=2", "true"),
    ]


def test_repeated_parameters_are_kept_in_order() -> None:
    root = xmlread.parse(job_xml(SAMPLE_JOBS["pending-owned"], JOB_URL))
    params = root.find(f"{UWS}parameters").findall(f"{UWS}parameter")
    assert [(p.get("id"), p.text) for p in params] == [("cmd", "echo"), ("cmd", "hi")]


def test_results_hrefs_types_and_sizes(completed_job: Job) -> None:
    root = xmlread.parse(job_xml(completed_job, JOB_URL))
    results = root.find(f"{UWS}results").findall(f"{UWS}result")
    got = [
        (
            r.get("id"),
            r.get(f"{XLINK}type"),
            r.get(f"{XLINK}href"),
            r.get("mime-type"),
            r.get("size"),
        )
        for r in results
    ]
    assert got == [
        ("stdout", "simple", f"{JOB_URL}/results/stdout", "text/plain", "1234"),
        # served results: id percent-quoted as one path segment
        ("my result/1 ü", "simple", f"{JOB_URL}/results/my%20result%2F1%20%C3%BC", None, None),
        (
            "external",
            "simple",
            "https://store.example.org/r?id=1&sig=abc",
            "application/x-votable+xml",
            str(2**40),
        ),
    ]


def test_error_summary_and_job_info(errored_job: Job) -> None:
    root = xmlread.parse(job_xml(errored_job, JOB_URL))
    summary = root.find(f"{UWS}errorSummary")
    assert summary.get("type") == "fatal"
    assert summary.get("hasDetail") == "true"
    assert [c.tag for c in summary] == [f"{UWS}message"]
    assert summary[0].text == f"exit code 1: {NASTY}"
    info = root.find(f"{UWS}jobInfo")
    assert [(i.tag, i.get("name"), i.text) for i in info] == [
        ("{urn:ivoa-broker}item", "exit_code", "1"),
        ("{urn:ivoa-broker}item", "native_state", "FAILED"),
        ("{urn:ivoa-broker}item", "note", NASTY),
    ]
    assert info.nsmap["ib"] == "urn:ivoa-broker"


def test_has_detail_is_true_without_detail_text() -> None:
    """``/error`` is served for every errored job, so hasDetail is always true."""
    root = xmlread.parse(job_xml(SAMPLE_JOBS["error-transient-no-detail"], JOB_URL))
    summary = root.find(f"{UWS}errorSummary")
    assert (summary.get("type"), summary.get("hasDetail")) == ("transient", "true")


def test_characters_xml_cannot_carry_are_replaced(uws_schema: xmlschema.XMLSchema) -> None:
    """ANSI escapes or NULs from a platform must not make the document unwritable."""
    job = Job(
        job_id="j-1",
        owner=None,
        phase=Phase.ERROR,
        creation_time=T0,
        parameters=(Parameter("arg", "a\x00b"),),
        error=JobError("fatal", "\x1b[31mred\x1b[0m"),
        job_info={"log": "x\x07y"},
    )
    root = xmlread.parse(job_xml(job, JOB_URL))
    uws_schema.validate(root)
    assert root.find(f"{UWS}errorSummary")[0].text == "\ufffd[31mred\ufffd[0m"
    assert root.find(f"{UWS}parameters")[0].text == "a\ufffdb"
    assert root.find(f"{UWS}jobInfo")[0].text == "x\ufffdy"


def test_pyvo_parses_job(any_job: Job) -> None:
    parsed = _strict_parse(pyvo.io.uws.parse_job, job_xml(any_job, JOB_URL))
    assert parsed.version == "1.1"
    assert parsed.jobid == any_job.job_id
    assert parsed.runid == any_job.run_id
    assert parsed.ownerid == any_job.owner
    assert parsed.phase == any_job.phase.value
    assert parsed.executionduration.sec == any_job.execution_duration
    for ours, theirs in [
        (any_job.quote, parsed.quote),
        (any_job.creation_time, parsed.creationtime),
        (any_job.start_time, parsed.starttime),
        (any_job.end_time, parsed.endtime),
        (any_job.destruction, parsed.destruction),
    ]:
        assert _pyvo_time(theirs) == (None if ours is None else format_instant(ours))
    assert [(p.id_, p.content or "", bool(p.byreference)) for p in parsed.parameters] == [
        (p.name, p.value, p.by_reference) for p in any_job.parameters
    ]
    assert [(r.id_, r.mimetype, r.size) for r in parsed.results] == [
        (r.id, r.mime_type, r.size or 0)
        for r in any_job.results  # pyvo: size 0 if absent
    ]
    if any_job.error is None:
        assert parsed.errorsummary is None
    else:
        assert parsed.errorsummary.type_ == any_job.error.type
        assert parsed.errorsummary.has_detail is True
        assert parsed.errorsummary.message.content == any_job.error.message
    if any_job.job_info:
        # pyvo keys jobInfo children by local tag name (the last one wins): it sees
        # that there are items but cannot tell them apart; values are read above.
        assert parsed.jobinfo.keys() == ["item"]
    else:
        assert parsed.jobinfo is None


def test_pyvo_result_hrefs(completed_job: Job) -> None:
    parsed = _strict_parse(pyvo.io.uws.parse_job, job_xml(completed_job, JOB_URL))
    assert [r.href for r in parsed.results] == [
        f"{JOB_URL}/results/stdout",
        f"{JOB_URL}/results/my%20result%2F1%20%C3%BC",
        "https://store.example.org/r?id=1&sig=abc",
    ]


# ----------------------------------------------------------------- uws:jobs


@pytest.mark.parametrize("summaries", [[], SUMMARIES], ids=["empty", "three"])
def test_jobs_validates(summaries: list[JobSummary], uws_schema: xmlschema.XMLSchema) -> None:
    root = xmlread.parse(jobs_xml(summaries, JOBS_URL))
    uws_schema.validate(root)
    assert root.tag == f"{UWS}jobs"
    assert root.get("version") == "1.1"
    assert len(root) == len(summaries)


def test_jobrefs() -> None:
    root = xmlread.parse(jobs_xml(SUMMARIES, JOBS_URL))
    refs = root.findall(f"{UWS}jobref")
    assert [(r.get("id"), r.get(f"{XLINK}href"), r.get(f"{XLINK}type")) for r in refs] == [
        ("j-1", f"{JOBS_URL}/j-1", "simple"),
        ("j 2", f"{JOBS_URL}/j%202", "simple"),
        ("j-3", f"{JOBS_URL}/j-3", "simple"),
    ]
    assert local_names(refs[0]) == ["phase", "ownerId", "creationTime"]
    assert refs[0].find(f"{UWS}ownerId").get(f"{XSI}nil") == "true"
    assert local_names(refs[1]) == ["phase", "runId", "ownerId", "creationTime"]
    assert refs[1].find(f"{UWS}runId").text == NASTY
    for ref in refs:
        assert re.match(INSTANT_RE, ref.find(f"{UWS}creationTime").text)


def test_pyvo_parses_job_list() -> None:
    parsed = _strict_parse(pyvo.io.uws.parse_job_list, jobs_xml(SUMMARIES, JOBS_URL))
    assert [(j.jobid, j.phase, j.runid, j.ownerid, _pyvo_time(j.creationtime)) for j in parsed] == [
        (s.job_id, s.phase.value, s.run_id, s.owner, format_instant(s.creation_time))
        for s in SUMMARIES
    ]


# ------------------------------------------- uws:results and uws:parameters


def test_results_document(any_job: Job, uws_schema: xmlschema.XMLSchema) -> None:
    root = xmlread.parse(results_xml(any_job, JOB_URL))
    uws_schema.validate(root)
    assert root.tag == f"{UWS}results"
    assert xmlread.results(results_xml(any_job, JOB_URL)) == {
        "results": xmlread.job(job_xml(any_job, JOB_URL))["results"]
    }


def test_parameters_document(any_job: Job, uws_schema: xmlschema.XMLSchema) -> None:
    root = xmlread.parse(parameters_xml(any_job))
    uws_schema.validate(root)
    assert root.tag == f"{UWS}parameters"
    assert xmlread.parameters(parameters_xml(any_job)) == {
        "parameters": xmlread.job(job_xml(any_job, JOB_URL))["parameters"]
    }


# ------------------------------------------------------------- error VOTable


def _votable_schema() -> xmlschema.XMLSchema:
    # astropy ships the official VOTable schemas
    xsd = Path(astropy.io.votable.__file__).parent / "data" / "VOTable.v1.4.xsd"
    return xmlschema.XMLSchema(str(xsd))


@pytest.mark.parametrize("key", ["error", "error-transient-no-detail"])
def test_error_votable(key: str) -> None:
    job = SAMPLE_JOBS[key]
    assert job.error is not None
    doc = error_votable(job)
    _votable_schema().validate(xmlread.parse(doc))
    votable = _strict_parse(parse_votable, doc)
    assert votable.version == "1.4"
    (resource,) = votable.resources
    assert resource.type == "results"
    infos = [(i.name, i.value, i.content) for i in resource.infos]
    assert infos[0] == ("QUERY_STATUS", "ERROR", job.error.message)
    assert infos[1] == ("ERROR_TYPE", job.error.type, None)
    if job.error.detail is None:
        assert len(infos) == 2
    else:
        assert infos[2] == ("DETAIL", "", job.error.detail)


def test_error_votable_refuses_a_job_without_error(completed_job: Job) -> None:
    with pytest.raises(ValueError, match="has no error"):
        error_votable(completed_job)


def test_result_href_kept_verbatim_when_given() -> None:
    job = replace(SAMPLE_JOBS["pending-minimal"], results=(JobResult("x", href="/rel/x"),))
    root = xmlread.parse(results_xml(job, JOB_URL))
    assert root[0].get(f"{XLINK}href") == "/rel/x"
