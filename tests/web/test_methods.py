"""405 answers name every method that works on the resource (one route per path)."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/jobs/some-job", {"GET", "HEAD", "POST", "DELETE"}),
        ("/jobs", {"GET", "HEAD", "POST"}),
        ("/jobs/some-job/phase", {"GET", "HEAD", "POST"}),
        ("/sessions/some-id", {"GET", "HEAD", "POST"}),
        ("/availability", {"GET", "HEAD"}),
    ],
)
def test_405_allow_lists_every_method(http: httpx.Client, path: str, allowed: set[str]) -> None:
    response = http.put(path, content=b"x")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_merged_routes_still_answer_each_method(http: httpx.Client) -> None:
    created = http.post("/jobs", data={"cmd": "true"}, follow_redirects=False)
    assert created.status_code == 303
    job = created.headers["location"]
    assert http.get(job).status_code == 200
    assert http.head(job).status_code == 200
    assert http.delete(job, follow_redirects=False).status_code == 303
