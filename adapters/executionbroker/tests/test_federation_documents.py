"""The neutral request as an ExecutionBroker request, and remote answers read back."""

from __future__ import annotations

from datetime import UTC, datetime

from ivoa_broker_federation._documents import (
    DOCKER,
    parse_uws_job,
    read_offerset,
    refusal,
    request_document,
    session_status,
    uws_job_url,
)

from ivoa_broker.eb.convert import to_execution_request
from ivoa_broker.protocol import EndReason, ExecutionRequest, Phase, Resources

GIB = 1024**3


def test_a_bare_command_takes_the_default_image_and_round_trips() -> None:
    request = ExecutionRequest(
        job_id="j1",
        command=("python3", "-c", "print(1)"),
        env={"A": "b"},
        resources=Resources(cores=1.5, memory_bytes=3 * GIB // 2, gpus=1, walltime_seconds=600),
        inputs=("https://example.org/x.fits",),
    )
    doc = request_document(request, "docker.io/library/python:3.12")
    assert doc["executable"]["kind"] == DOCKER
    assert doc["compute"]["cores"] == {"min": 2, "max": 2}
    assert doc["compute"]["memory"] == {"min": 2, "max": 2}
    back = to_execution_request(doc, job_id="j2", owner=None)
    assert back.command == request.command
    assert back.image == "docker.io/library/python:3.12"
    assert dict(back.env) == {"A": "b"}
    assert back.resources.walltime_seconds == 600
    assert back.resources.gpus == 1
    assert back.inputs == request.inputs


def test_an_eb_request_survives_the_trip_through_the_neutral_request() -> None:
    original = {
        "executable": {
            "kind": DOCKER,
            "meta": {"name": "job"},
            "image": {"locations": ["a/b:1", "c/b:1"]},
            "entrypoint": "/bin/sh",
            "command": ["-c", "echo hi"],
        },
        "compute": {"kind": "uri:simple-compute-resource-1.0", "cores": {"min": 1, "max": 4}},
        "schedule": {"requested": {"duration": "PT1H"}},
    }
    neutral = to_execution_request(original, job_id="j", owner=None)
    doc = request_document(neutral, None)
    assert doc["executable"]["entrypoint"] == "/bin/sh"
    assert doc["executable"]["command"] == ["-c", "echo hi"]
    assert doc["executable"]["image"]["locations"] == ["a/b:1", "c/b:1"]
    assert doc["executable"]["meta"] == {"name": "job"}
    assert doc["compute"]["cores"] == {"min": 1, "max": 4}
    assert to_execution_request(doc, job_id="j", owner=None) == neutral


def test_refusals_name_what_cannot_be_asked() -> None:
    bare = ExecutionRequest(job_id="j", command=("true",))
    assert refusal(bare, None) is not None and "image" in (refusal(bare, None) or "")
    assert refusal(bare, "img") is None
    huge = ExecutionRequest(job_id="j", command=("true",), resources=Resources(cores=1e6))
    assert "cores" in (refusal(huge, "img") or "")


def test_offer_set_reading_keeps_offers_and_reasons() -> None:
    body = {
        "result": "YES",
        "meta": {"messages": [{"level": "ERROR", "message": "plain: no images"}]},
        "offers": [
            {
                "phase": "OFFERED",
                "expires": "2030-01-01T00:00:00Z",
                "meta": {
                    "url": "http://n/sessions/1",
                    "name": "box",
                    "description": "d",
                    "messages": [{"level": "WARN", "message": "busy"}],
                },
                "compute": {"cores": {"min": 2, "max": 2}, "memory": {"min": 1, "max": 1}},
            },
            {"phase": "REJECTED", "meta": {"url": "http://n/sessions/2"}},
        ],
    }
    offers, reasons = read_offerset(body, Resources())
    assert reasons == ["plain: no images"]
    assert len(offers) == 1
    assert offers[0].url == "http://n/sessions/1"
    assert offers[0].expires == datetime(2030, 1, 1, tzinfo=UTC)
    assert offers[0].resources.cores == 2.0 and offers[0].resources.memory_bytes == GIB
    assert offers[0].warnings == ("busy",)


def test_session_documents_map_to_phases() -> None:
    session = {
        "phase": "FAILED",
        "meta": {
            "messages": [
                {"template": "uws-job", "values": {"url": "http://n/jobs/1"}},
                {"level": "ERROR", "message": "boom"},
            ]
        },
    }
    assert uws_job_url(session) == "http://n/jobs/1"
    status = session_status(session)
    assert status.phase is Phase.ERROR and status.message == "boom"


UWS_JOB = b"""<?xml version="1.0"?>
<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink">
 <uws:jobId>1</uws:jobId><uws:phase>ERROR</uws:phase>
 <uws:creationTime>2030-01-01T00:00:00Z</uws:creationTime>
 <uws:startTime>2030-01-01T00:00:01Z</uws:startTime>
 <uws:endTime>2030-01-01T00:00:05Z</uws:endTime>
 <uws:executionDuration>600</uws:executionDuration>
 <uws:results><uws:result id="stdout" xlink:href="http://n/jobs/1/results/stdout"/></uws:results>
 <uws:errorSummary type="fatal"><uws:message>exit 3</uws:message></uws:errorSummary>
 <uws:jobInfo><ib:item xmlns:ib="urn:x" name="exit_code">3</ib:item>
  <end_reason>exit_nonzero</end_reason></uws:jobInfo>
</uws:job>"""


def test_uws_job_documents_are_read() -> None:
    job = parse_uws_job(UWS_JOB)
    assert job.status.phase is Phase.ERROR
    assert job.status.exit_code == 3
    assert job.status.reason is EndReason.EXIT_NONZERO
    assert job.status.message == "exit 3"
    assert job.results == (("stdout", "http://n/jobs/1/results/stdout"),)
    assert job.execution_duration == 600
    assert job.start == datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
