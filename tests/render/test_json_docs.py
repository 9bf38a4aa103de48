"""The JSON twins carry exactly the values of the XML documents.

Each test parses the rendered XML independently (:mod:`.xmlread`) and
compares it with the JSON after a ``json.dumps``/``json.loads`` round trip.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from ivoa_broker.records import Job
from ivoa_broker.render import (
    CapabilitySpec,
    availability_json,
    availability_xml,
    capabilities_json,
    capabilities_xml,
    error_json,
    error_votable,
    job_json,
    job_xml,
    jobs_json,
    jobs_xml,
    parameters_json,
    parameters_xml,
    results_json,
    results_xml,
    standard_capabilities,
)

from . import xmlread
from .samples import JOB_URL, JOBS_URL, NASTY, SAMPLE_JOBS, SUMMARIES, T0
from .xmlread import INSTANT_RE


def _through_json(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document))


def test_job_json_equals_job_xml(any_job: Job) -> None:
    assert _through_json(job_json(any_job, JOB_URL)) == xmlread.job(job_xml(any_job, JOB_URL))


def test_job_json_shape_for_minimal_pending_job() -> None:
    assert job_json(SAMPLE_JOBS["pending-minimal"], JOB_URL) == {
        "version": "1.1",
        "jobId": "j-1",
        "runId": None,
        "ownerId": None,
        "phase": "PENDING",
        "quote": None,
        "creationTime": xmlread.job(job_xml(SAMPLE_JOBS["pending-minimal"], JOB_URL))[
            "creationTime"
        ],
        "startTime": None,
        "endTime": None,
        "executionDuration": 0,
        "destruction": None,
        "parameters": [],
        "results": [],
        "errorSummary": None,
        "jobInfo": {},
    }


def test_job_json_error_and_info(errored_job: Job) -> None:
    document = job_json(errored_job, JOB_URL)
    assert document["errorSummary"] == {
        "type": "fatal",
        "hasDetail": True,
        "message": f"exit code 1: {NASTY}",
    }
    assert document["jobInfo"] == {"exit_code": "1", "native_state": "FAILED", "note": NASTY}
    assert document["runId"] == NASTY


def test_job_json_instants(any_job: Job) -> None:
    document = job_json(any_job, JOB_URL)
    for key in ["quote", "creationTime", "startTime", "endTime", "destruction"]:
        value = document[key]
        assert value is None or re.match(INSTANT_RE, value), (key, value)


def test_results_and_parameters_json(any_job: Job) -> None:
    assert _through_json(results_json(any_job, JOB_URL)) == xmlread.results(
        results_xml(any_job, JOB_URL)
    )
    assert _through_json(parameters_json(any_job)) == xmlread.parameters(parameters_xml(any_job))


def test_completed_results_json(completed_job: Job) -> None:
    assert results_json(completed_job, JOB_URL)["results"][1] == {
        "id": "my result/1 ü",
        "href": f"{JOB_URL}/results/my%20result%2F1%20%C3%BC",
        "mimeType": None,
        "size": None,
    }
    assert parameters_json(completed_job)["parameters"][2] == {
        "id": "input",
        "value": "https://data.example.org/in.fits?x=1&y=2",
        "byReference": True,
    }


@pytest.mark.parametrize("summaries", [[], SUMMARIES], ids=["empty", "three"])
def test_jobs_json_equals_jobs_xml(summaries: list[Any]) -> None:
    assert _through_json(jobs_json(summaries, JOBS_URL)) == xmlread.jobs(
        jobs_xml(summaries, JOBS_URL)
    )


@pytest.mark.parametrize("key", ["error", "error-transient-no-detail"])
def test_error_json_equals_error_votable(key: str) -> None:
    job = SAMPLE_JOBS[key]
    assert job.error is not None
    document = _through_json(error_json(job))
    assert document == xmlread.error(error_votable(job))
    assert document["detail"] == job.error.detail


def test_error_json_refuses_a_job_without_error(completed_job: Job) -> None:
    with pytest.raises(ValueError, match="has no error"):
        error_json(completed_job)


@pytest.mark.parametrize(
    ("available", "notes", "up_since"),
    [(True, [], None), (False, ["down", NASTY], T0)],
)
def test_availability_json_equals_xml(
    available: bool, notes: list[str], up_since: datetime | None
) -> None:
    assert _through_json(availability_json(available, notes, up_since)) == xmlread.availability(
        availability_xml(available, notes, up_since)
    )


def test_capabilities_json_equals_xml() -> None:
    specs = [
        *standard_capabilities("https://h/svc", "https://h/svc/jobs"),
        CapabilitySpec("ivo://x/y", "https://h/y?a=1&b=2", description=NASTY, role="std"),
    ]
    document = _through_json(capabilities_json(specs))
    assert document == xmlread.capabilities(capabilities_xml(specs))
    assert [c["standardID"] for c in document["capabilities"]] == [
        "ivo://ivoa.net/std/VOSI#capabilities",
        "ivo://ivoa.net/std/VOSI#availability",
        "ivo://ivoa.net/std/UWS#rest-1.1",
        *(
            f"ivo://ivoa.net/std/ExecutionBroker#{name}-1.0"
            for name in ("requests", "offersets", "sessions", "direct", "openapi")
        ),
        "ivo://x/y",
    ]
