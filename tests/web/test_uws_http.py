"""UWS 1.1 through real HTTP (uvicorn), numbered after the conformance checks (UWS-NN)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess
from tests.web.helpers import (
    FAILING,
    INSTANT,
    LONG,
    QUICK,
    UWS,
    XSI_NIL,
    create,
    doc,
    job_doc,
    phase,
    text,
    wait_until,
)

PHASES = {
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "ABORTED",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ARCHIVED",
}


def test_01_02_job_list_is_xml_by_default(http: httpx.Client) -> None:
    for headers in ({}, {"Accept": "*/*"}, {"Accept": "application/xml"}):
        response = http.get("/jobs", headers=headers)
        assert response.headers["content-type"].startswith("application/xml")
        root = doc(response)
        assert root.tag == UWS + "jobs"
        assert root.get("version") == "1.1"


def test_03_create_pending(http: httpx.Client) -> None:
    url = create(http, QUICK)
    assert text(job_doc(http, url), "phase") == "PENDING"


def test_04_05_phase_run_at_creation(http: httpx.Client) -> None:
    in_form = create(http, {**QUICK, "PHASE": "RUN"})
    in_query = create(http, QUICK, params={"PHASE": "RUN"})
    for url in (in_form, in_query):
        assert phase(http, url) != "PENDING"


def test_06_07_runid_and_case_insensitive_names(http: httpx.Client) -> None:
    url = create(http, {"CMD": "echo", "ArGs": "x", "runid": "abc", "PHAse": "RUN"})
    root = job_doc(http, url)
    assert text(root, "runId") == "abc"
    assert text(root, "phase") != "PENDING"
    params = {p.get("id"): p.text for p in root.iter(UWS + "parameter")}
    assert params == {"cmd": "echo", "args": "x"}
    listed = doc(http.get("/jobs", params={"LAST": 5}))
    refs = {r.get("id"): r for r in listed.iter(UWS + "jobref")}
    job_id = url.rsplit("/", 1)[1]
    assert refs[job_id].find(UWS + "runId").text == "abc"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"cmd": "echo", "cores": "-2"}, "'cores'"),
        ({"cmd": "echo", "memory": "4 parsecs"}, "'memory'"),
        ({"cmd": "echo", "gpus": "100000"}, "'gpus'"),
        ({"cmd": "x" * 5000}, "'cmd'"),
        ({"cmd": "echo", "platform": "nowhere"}, "'platform'"),
        ({"cmd": "echo", "bogus": "1"}, "'bogus'"),
        ({"cmd": "echo", "PHASE": "EXPLODE"}, "PHASE"),
        ({"cmd": "echo", "EXECUTIONDURATION": "soon"}, "EXECUTIONDURATION"),
        ({"cmd": "echo", "DESTRUCTION": "tomorrow"}, "DESTRUCTION"),
    ],
)
def test_08_bad_parameters_refused_and_no_job_left(
    http: httpx.Client, data: dict[str, str], named: str
) -> None:
    before = doc(http.get("/jobs")).findall(UWS + "jobref")
    response = http.post("/jobs", data=data, follow_redirects=False)
    assert response.status_code == 400
    assert named in response.text
    after = doc(http.get("/jobs")).findall(UWS + "jobref")
    assert len(after) == len(before)


def test_09_multipart_body(http: httpx.Client) -> None:
    url = create(http, {"cmd": "echo", "args": "multi"}, files={"runid": (None, "mp")})
    root = job_doc(http, url)
    assert text(root, "runId") == "mp"
    assert {p.get("id") for p in root.iter(UWS + "parameter")} == {"cmd", "args"}


def test_09_file_upload_refused_clearly(http: httpx.Client) -> None:
    response = http.post("/jobs", data={"cmd": "cat"}, files={"data": ("a.txt", b"xyz")})
    assert response.status_code == 400
    assert "upload" in response.text


def test_10_job_list_entries(http: httpx.Client) -> None:
    url = create(http, {**QUICK, "RUNID": "list-me"})
    job_id = url.rsplit("/", 1)[1]
    root = doc(http.get("/jobs"))
    ref = next(r for r in root.iter(UWS + "jobref") if r.get("id") == job_id)
    assert ref.get("{http://www.w3.org/1999/xlink}href") == url
    assert ref.find(UWS + "phase").text == "PENDING"
    assert INSTANT.match(ref.find(UWS + "creationTime").text)


def test_11_to_14_job_document(http: httpx.Client) -> None:
    root = job_doc(http, create(http, QUICK))
    assert root.tag == UWS + "job"
    assert root.get("version") == "1.1"
    for name in ("startTime", "endTime", "ownerId"):
        assert root.find(UWS + name).get(XSI_NIL) == "true"
    assert root.find(UWS + "results") is not None
    assert INSTANT.match(text(root, "creationTime") or "")
    assert INSTANT.match(text(root, "destruction") or "")


def test_15_pyvo_parses_without_warnings(http: httpx.Client) -> None:
    import io
    import warnings

    from pyvo.io.uws import parse_job

    url = create(http, QUICK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = parse_job(io.BytesIO(http.get(url).content))
    assert job.version == "1.1"
    assert job.phase == "PENDING"
    assert job.jobid == url.rsplit("/", 1)[1]


def test_16_27_unknown_job_and_children_404(http: httpx.Client) -> None:
    for path in (
        "/jobs/does-not-exist",
        "/jobs/does-not-exist/phase",
        "/jobs/does-not-exist/results",
        "/jobs/does-not-exist/error",
    ):
        assert http.get(path).status_code == 404
    url = create(http, QUICK)
    assert http.get(url + "/nonexistent-child").status_code == 404
    assert http.get(url + "/results/nope").status_code == 404


def test_18_to_24_children(http: httpx.Client) -> None:
    url = create(http, QUICK)
    root = job_doc(http, url)
    r = http.get(url + "/phase")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text in PHASES
    assert http.get(url + "/executionduration").text == text(root, "executionDuration")
    assert http.get(url + "/destruction").text == text(root, "destruction")
    assert http.get(url + "/quote").text == ""
    assert http.get(url + "/owner").text == ""
    params = doc(http.get(url + "/parameters"))
    assert params.tag == UWS + "parameters"
    assert len(params) == 2
    results = doc(http.get(url + "/results"))
    assert results.tag == UWS + "results"
    assert len(results) == 0
    assert http.get(url + "/error").status_code == 404


def test_25_28_40_run_to_completion_with_results(http: httpx.Client) -> None:
    url = create(
        http,
        {"cmd": "sh", "args": ["-c", "echo out; echo data > $IVOA_BROKER_OUTPUT_DIR/table.csv"]},
    )
    r = http.post(url + "/phase", data={"PHASE": "RUN"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == url
    assert wait_until(http, url, {"COMPLETED", "ERROR"}) == "COMPLETED"
    root = job_doc(http, url)
    created = datetime.fromisoformat(text(root, "creationTime") or "")
    started = datetime.fromisoformat(text(root, "startTime") or "")
    ended = datetime.fromisoformat(text(root, "endTime") or "")
    assert created <= started <= ended
    results = {r.get("id"): r for r in root.iter(UWS + "result")}
    assert set(results) == {"stdout", "stderr", "table.csv"}
    for result in results.values():
        body = http.get(result.get("{http://www.w3.org/1999/xlink}href"))
        assert body.status_code == 200
        assert int(result.get("size")) == len(body.content)
        assert body.headers["content-type"].startswith(result.get("mime-type"))
    assert http.get(url + "/results/stdout").text == "out\n"
    assert http.get(url + "/results/table.csv").text == "data\n"


def _started(broker: BrokerProcess, url: str) -> None:
    """Wait for the file ``started`` in the job's own output folder (a sandboxed local
    job sees no folder of the test's)."""
    job_id = url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 15
    while not list(broker.workdir.glob(f"*/*/{job_id}/out/started")):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


def _job_pids(job_id: str) -> list[int]:
    """Host pids of the processes carrying the job's ``IVOA_BROKER_JOB_ID``."""
    marker = f"IVOA_BROKER_JOB_ID={job_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_29_abort_executing_keeps_results(http: httpx.Client, broker: BrokerProcess) -> None:
    script = 'echo started; touch "$IVOA_BROKER_OUTPUT_DIR/started"; sleep 60'
    url = create(http, {"cmd": "sh", "args": ["-c", script], "PHASE": "RUN"})
    _started(broker, url)
    r = http.post(url + "/phase", data={"PHASE": "ABORT"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == url
    assert phase(http, url) == "ABORTED"
    deadline = time.monotonic() + 15
    while not doc(http.get(url + "/results")).findall(UWS + "result"):
        assert time.monotonic() < deadline, "results of the aborted job never appeared"
        time.sleep(0.1)
    assert http.get(url + "/results/stdout").text == "started\n"


def test_30_abort_pending(http: httpx.Client) -> None:
    url = create(http, QUICK)
    assert http.post(url + "/phase", data={"PHASE": "ABORT"}).status_code == 303
    assert phase(http, url) == "ABORTED"


def test_31_32_illegal_phase_requests(http: httpx.Client) -> None:
    url = create(http, QUICK)
    r = http.post(url + "/phase", data={"PHASE": "BOGUS"})
    assert r.status_code == 400
    assert "RUN or ABORT" in r.text
    assert phase(http, url) == "PENDING"
    http.post(url + "/phase", data={"PHASE": "ABORT"})
    r = http.post(url + "/phase", data={"PHASE": "RUN"})
    assert r.status_code == 403
    assert "ABORTED" in r.text
    assert phase(http, url) == "ABORTED"


def test_33_execution_duration(http: httpx.Client) -> None:
    url = create(http, QUICK)
    r = http.post(
        url + "/executionduration", data={"EXECUTIONDURATION": "60"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == url
    assert text(job_doc(http, url), "executionDuration") == "60"
    assert http.post(url + "/executionduration", data={"EXECUTIONDURATION": "x"}).status_code == 400


def test_34_destruction(http: httpx.Client) -> None:
    url = create(http, QUICK)
    when = datetime.now(UTC) + timedelta(days=1)
    r = http.post(
        url + "/destruction",
        data={"DESTRUCTION": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    got = datetime.fromisoformat(text(job_doc(http, url), "destruction") or "")
    assert abs((got - when).total_seconds()) < 0.001
    assert http.post(url + "/destruction", data={"DESTRUCTION": "never"}).status_code == 400


def test_35_parameters_update_only_pending(http: httpx.Client) -> None:
    url = create(http, QUICK)
    r = http.post(url + "/parameters", data={"ARGS": "changed"}, follow_redirects=False)
    assert r.status_code == 303
    params = {p.get("id"): p.text for p in job_doc(http, url).iter(UWS + "parameter")}
    assert params["args"] == "changed"
    http.post(url + "/phase", data={"PHASE": "ABORT"})
    assert http.post(url + "/parameters", data={"args": "again"}).status_code == 403


def test_36_37_delete(http: httpx.Client) -> None:
    url = create(http, QUICK)
    r = http.delete(url, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].endswith("/jobs")
    assert http.get(url).status_code == 404
    url2 = create(http, QUICK)
    assert http.post(url2, data={}).status_code == 400
    assert http.get(url2).status_code == 200
    r = http.post(url2, data={"ACTION": "DELETE"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].endswith("/jobs")
    assert http.get(url2).status_code == 404
    job_ids = {r.get("id") for r in doc(http.get("/jobs")).iter(UWS + "jobref")}
    assert url.rsplit("/", 1)[1] not in job_ids
    assert url2.rsplit("/", 1)[1] not in job_ids


def test_38_delete_executing_stops_it(http: httpx.Client, broker: BrokerProcess) -> None:
    script = 'touch "$IVOA_BROKER_OUTPUT_DIR/started"; exec sleep 60'
    url = create(http, {"cmd": "sh", "args": ["-c", script], "PHASE": "RUN"})
    _started(broker, url)
    pids = _job_pids(url.rsplit("/", 1)[1])
    assert pids, "no process of the job found"
    assert http.delete(url, follow_redirects=False).status_code == 303
    assert http.get(url).status_code == 404
    deadline = time.monotonic() + 15  # the local adapter escalates to SIGKILL after 10 s
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
            assert time.monotonic() < deadline, "the deleted job kept running"
            time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_39_wrong_methods(http: httpx.Client) -> None:
    url = create(http, QUICK)
    assert http.put("/jobs").status_code == 405
    assert http.delete("/jobs").status_code == 405
    assert http.delete(url + "/phase").status_code == 405
    assert phase(http, url) == "PENDING"


def test_41_42_failing_job(http: httpx.Client) -> None:
    url = create(http, {**FAILING, "PHASE": "RUN"})
    assert wait_until(http, url, {"COMPLETED", "ERROR"}) == "ERROR"
    root = job_doc(http, url)
    summary = root.find(UWS + "errorSummary")
    assert summary.get("type") in ("fatal", "transient")
    assert summary.get("hasDetail") == "true"
    message = summary.find(UWS + "message").text
    assert "3" in message
    assert "broken" in message
    err = http.get(url + "/error")
    assert err.status_code == 200
    assert b'value="ERROR"' in err.content


def test_43_execution_duration_enforced(http: httpx.Client) -> None:
    url = create(http, {**LONG, "EXECUTIONDURATION": "1", "PHASE": "RUN"})
    assert wait_until(http, url, {"ABORTED", "ERROR", "COMPLETED"}) == "ABORTED"
    summary = job_doc(http, url).find(UWS + "errorSummary")
    assert "execution duration of 1 s exceeded" in summary.find(UWS + "message").text


def test_44_destruction_archives(http: httpx.Client) -> None:
    url = create(http, QUICK)
    job_id = url.rsplit("/", 1)[1]
    soon = datetime.now(UTC) + timedelta(seconds=1)
    http.post(url + "/destruction", data={"DESTRUCTION": soon.isoformat()})
    assert wait_until(http, url, {"ARCHIVED"}, limit=15) == "ARCHIVED"
    default_list = {r.get("id") for r in doc(http.get("/jobs")).iter(UWS + "jobref")}
    archived = {
        r.get("id")
        for r in doc(http.get("/jobs", params={"PHASE": "ARCHIVED"})).iter(UWS + "jobref")
    }
    assert job_id not in default_list
    assert job_id in archived


def test_45_wait_times_out_on_quiet_pending(http: httpx.Client) -> None:
    url = create(http, QUICK)
    started = time.monotonic()
    assert text(job_doc(http, url, WAIT=2), "phase") == "PENDING"
    assert time.monotonic() - started >= 1.9


def test_46_wait_wakes_on_change(http: httpx.Client, broker) -> None:  # type: ignore[no-untyped-def]
    url = create(http, {"cmd": "sleep", "args": "1"})
    seen: list[str] = []

    def waiter() -> None:
        with httpx.Client(timeout=30) as other:
            seen.append(other.get(url, params={"WAIT": 20}).text)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    http.post(url + "/phase", data={"PHASE": "RUN"})
    thread.join(25)
    assert time.monotonic() - started < 10
    assert seen
    assert "<uws:phase>PENDING</uws:phase>" not in seen[0]


def test_47_48_50_wait_returns_immediately(http: httpx.Client) -> None:
    pending = create(http, QUICK)
    started = time.monotonic()
    http.get(pending, params={"WAIT": 10, "PHASE": "QUEUED"})
    http.get(pending, params={"WAIT": 0})
    http.post(pending + "/phase", data={"PHASE": "ABORT"})
    http.get(pending, params={"WAIT": 10})
    assert time.monotonic() - started < 2
    assert http.get(pending, params={"WAIT": "abc"}).status_code == 400
    assert http.get(pending, params={"WAIT": "-7"}).status_code == 400


def test_49_wait_forever_is_capped(http: httpx.Client) -> None:
    url = create(http, QUICK)
    started = time.monotonic()
    assert http.get(url, params={"WAIT": -1}).status_code == 200
    assert time.monotonic() - started < 10  # the session broker caps WAIT at 5 s


def test_52_to_58_list_filters(http: httpx.Client) -> None:
    mark = datetime.now(UTC)
    time.sleep(0.01)
    done = create(http, {**QUICK, "PHASE": "RUN"})
    failed = create(http, {**FAILING, "PHASE": "RUN"})
    pending = create(http, QUICK)
    wait_until(http, done, {"COMPLETED"})
    wait_until(http, failed, {"ERROR"})
    ids = {u.rsplit("/", 1)[1]: u for u in (done, failed, pending)}

    def listed(**params: object) -> list[tuple[str, str]]:
        root = doc(http.get("/jobs", params={"AFTER": mark.isoformat(), **params}))
        return [(r.get("id"), r.find(UWS + "phase").text) for r in root.iter(UWS + "jobref")]

    assert {i for i, _ in listed()} == set(ids)
    assert listed(PHASE="COMPLETED") == [(done.rsplit("/", 1)[1], "COMPLETED")]
    assert {p for _, p in listed(PHASE=["COMPLETED", "ERROR"])} == {"COMPLETED", "ERROR"}
    assert [i for i, _ in listed(LAST=2)] == [pending.rsplit("/", 1)[1], failed.rsplit("/", 1)[1]]
    assert listed(PHASE="PENDING", LAST=1) == [(pending.rsplit("/", 1)[1], "PENDING")]
    micro = mark.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert {i for i, _ in listed(AFTER=micro)} == set(ids)
    for bad in (
        {"LAST": 0},
        {"LAST": -1},
        {"LAST": "x"},
        {"AFTER": "yesterday"},
        {"PHASE": "NOTAPHASE"},
    ):
        assert http.get("/jobs", params=bad).status_code == 400


def test_81_json_on_request(http: httpx.Client) -> None:
    url = create(http, {**QUICK, "RUNID": "j"})
    xml = job_doc(http, url)
    data = http.get(url, headers={"Accept": "application/json"}).json()
    assert data["jobId"] == text(xml, "jobId")
    assert data["runId"] == "j"
    assert data["phase"] == text(xml, "phase")
    assert data["creationTime"] == text(xml, "creationTime")
    assert data["ownerId"] is None
    assert data["startTime"] is None
    for path in ("/jobs", url + "/results", url + "/parameters", "/availability", "/capabilities"):
        r = http.get(path, headers={"Accept": "application/json"})
        assert r.headers["content-type"] == "application/json", path
        r.json()
    assert (
        http.get(url, headers={"Accept": "application/json"}).headers["content-type"]
        == "application/json"
    )
    err = http.get("/jobs/nope", headers={"Accept": "application/json"})
    assert err.status_code == 404
    assert err.json()["status"] == 404


def test_request_no_platform_can_serve_fails_clearly(http: httpx.Client) -> None:
    url = create(http, {"cmd": "python3", "image": "python:3.12", "gpus": "1", "PHASE": "RUN"})
    assert wait_until(http, url, {"ERROR", "COMPLETED"}) == "ERROR"
    message = job_doc(http, url).find(UWS + "errorSummary").find(UWS + "message").text
    assert "no platform can run this job" in message
    assert "local" in message
    assert "image" in message


def test_job_document_follows_every_change(http: httpx.Client) -> None:
    """Rendered documents are reused only while the job is unchanged."""
    url = create(http, QUICK)
    first = http.get(url).content
    assert http.get(url).content == first
    http.post(url + "/executionduration", data={"EXECUTIONDURATION": "77"})
    assert text(job_doc(http, url), "executionDuration") == "77"
    http.post(url + "/phase", data={"PHASE": "RUN"})
    assert wait_until(http, url, {"COMPLETED"}) == "COMPLETED"
    assert job_doc(http, url).find(UWS + "results").findall(UWS + "result")
