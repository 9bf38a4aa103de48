"""Probe: another owner's job is indistinguishable from no job (404, byte-identical but
for the id), and no result path reaches a file outside the job."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.probe.conftest import ALICE, Probe, create, raw_request, settle

#: every job resource, read and written, as (method, path under the job, form)
JOB_ROUTES: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", "", None),
    ("POST", "", {"ACTION": "DELETE"}),
    ("DELETE", "", None),
    ("GET", "/phase", None),
    ("POST", "/phase", {"PHASE": "RUN"}),
    ("POST", "/phase", {"PHASE": "ABORT"}),
    ("GET", "/executionduration", None),
    ("POST", "/executionduration", {"EXECUTIONDURATION": "60"}),
    ("GET", "/destruction", None),
    ("POST", "/destruction", {"DESTRUCTION": "2030-01-01T00:00:00Z"}),
    ("GET", "/quote", None),
    ("GET", "/owner", None),
    ("GET", "/parameters", None),
    ("POST", "/parameters", {"cores": "1"}),
    ("GET", "/results", None),
    ("GET", "/results/stdout", None),
    ("GET", "/error", None),
]
#: the EB views of the same job
SESSION_ROUTES: list[tuple[str, str, bytes | None]] = [
    ("GET", "", None),
    ("POST", "", b"kind: update\nphase: CANCELLED\n"),
]


@pytest.fixture(scope="module")
def alices_job(probe: Probe) -> str:
    job = create(probe.alice, {"cmd": "sh", "args": ["-c", "echo out; exit 3"]})
    probe.alice.post(f"/jobs/{job}/phase", data={"PHASE": "RUN"})
    settle(probe.alice, job)
    return job


def _like(job: str) -> str:
    """An unknown id of the same shape as ``job``."""
    fresh = uuid.uuid4()
    return str(fresh) if "-" in job else fresh.hex[: len(job)]


def _same(mine: httpx.Response, unknown: httpx.Response, job: str, other: str) -> None:
    assert mine.status_code == unknown.status_code == 404, (mine.status_code, mine.text)
    assert mine.headers.get("content-type") == unknown.headers.get("content-type")
    assert mine.content == unknown.content.replace(other.encode(), job.encode())


@pytest.mark.parametrize(("method", "path", "form"), JOB_ROUTES)
@pytest.mark.parametrize("accept", ["*/*", "application/json"])
def test_strangers_job_reads_as_unknown(
    probe: Probe, alices_job: str, method: str, path: str, form: dict[str, str] | None, accept: str
) -> None:
    other = _like(alices_job)
    h = {"Accept": accept}
    mine = probe.bob.request(method, f"/jobs/{alices_job}{path}", data=form, headers=h)
    unknown = probe.bob.request(method, f"/jobs/{other}{path}", data=form, headers=h)
    _same(mine, unknown, alices_job, other)
    assert probe.alice.get(f"/jobs/{alices_job}/phase").text == "ERROR"  # untouched


@pytest.mark.parametrize(("method", "path", "body"), SESSION_ROUTES)
def test_strangers_session_reads_as_unknown(
    probe: Probe, alices_job: str, method: str, path: str, body: bytes | None
) -> None:
    session = str(uuid.UUID(alices_job))
    other = str(uuid.uuid4())
    h = {"Content-Type": "application/yaml"}
    mine = probe.bob.request(method, f"/sessions/{session}{path}", content=body, headers=h)
    unknown = probe.bob.request(method, f"/sessions/{other}{path}", content=body, headers=h)
    _same(mine, unknown, session, other)


def test_strangers_lists_do_not_show_the_job(probe: Probe, alices_job: str) -> None:
    assert alices_job not in probe.bob.get("/jobs").text
    assert alices_job not in probe.bob.get("/sessions").text
    assert alices_job in probe.alice.get("/jobs").text


TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "stdout/../../../../../etc/passwd",
    "....//....//etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "stdout%00.txt",
    "..\\..\\..\\etc\\passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_result_paths_stay_inside_the_job(probe: Probe, alices_job: str, path: str) -> None:
    status, body = raw_request(
        probe,
        f"GET /jobs/{alices_job}/results/{path} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ALICE}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status in (400, 404), (status, body[:200])
    assert b"root:" not in body
