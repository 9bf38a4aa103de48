"""HTML pages for browsers, and the same URLs unchanged for every other client.

Through a real broker process (``tests/server.py``, default settings: local platform,
anonymous). A browser's ``Accept`` gets a page; pyvo's and curl's ``*/*``, explicit XML,
JSON and YAML get what they always got. Writes from a browser need the CSRF token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from tests.server import BrokerProcess
from tests.web.helpers import QUICK as _QUICK
from tests.web.helpers import create, wait_until

QUICK = {**_QUICK, "PHASE": "RUN"}
#: what Chromium sends for a page
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
NOTEBOOK = {
    "executable": {
        "kind": f"{K}executable/jupyter-notebook.yaml",
        "location": "data:,%7B%22cells%22%3A%5B%5D%2C%22metadata%22%3A%7B%7D%2C%22nbformat%22"
        "%3A4%2C%22nbformat_minor%22%3A5%7D",
    }
}


@pytest.fixture
def browser(broker: BrokerProcess) -> Iterator[httpx.Client]:
    """A client that talks like a browser: Accept, Sec-Fetch-Site, cookies."""
    headers = {"Accept": BROWSER, "Sec-Fetch-Site": "same-origin", "Origin": broker.url}
    with httpx.Client(base_url=broker.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def plain(broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=broker.url, timeout=30) as client:
        yield client


def token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


@pytest.mark.parametrize("accept", [BROWSER, FIREFOX, "text/html"])
def test_a_browser_gets_html_pages(browser: httpx.Client, plain: httpx.Client, accept: str) -> None:
    job = create(plain, QUICK)
    wait_until(browser, job, {"COMPLETED"})
    for url in ("/jobs", job, "/availability"):
        page = browser.get(url, headers={"Accept": accept})
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.text.startswith("<!doctype html>")
        assert '<html lang="en">' in page.text
    page = browser.get(job)
    assert ">COMPLETED</span>" in page.text
    assert f'href="{job}/results/stdout"' in page.text
    assert "hello" in page.text  # the log tail
    assert "Accept" in page.headers["vary"]


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/xml"),
        ("*/*", "application/xml"),  # curl, pyvo (requests)
        ("application/xml", "application/xml"),
        ("text/xml", "application/xml"),
        ("application/json", "application/json"),
        ("application/json, */*", "application/json"),
        ("text/html;q=0.5, application/xml", "application/xml"),
        ("text/plain", "application/xml"),  # UWS never answers 406
    ],
)
def test_other_clients_get_what_they_got_before(
    plain: httpx.Client, accept: str | None, media: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    for url in ("/jobs", "/availability"):
        response = plain.get(url, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == media
        assert "<html" not in response.text


def test_eb_documents_keep_their_formats_and_browsers_get_pages(
    plain: httpx.Client, browser: httpx.Client
) -> None:
    posted = plain.post("/requests", json=NOTEBOOK, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    offerset = posted.headers["location"]
    assert plain.get(offerset).headers["content-type"] == "application/yaml"
    assert yaml.safe_load(plain.get(offerset).text)["result"] == "YES"
    as_json = plain.get(offerset, headers={"Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"
    assert plain.get(offerset, headers={"Accept": "image/png"}).status_code == 406
    page = browser.get(offerset)
    assert page.headers["content-type"].startswith("text/html")
    assert ">YES</span>" in page.text
    session = as_json.json()["offers"][0]["meta"]["url"]
    assert "Accept" in browser.get(session).text
    assert browser.get(session).headers["content-type"].startswith("text/html")


def test_accept_from_the_offer_page_runs_the_notebook(browser: httpx.Client) -> None:
    posted = browser.post("/requests", json=NOTEBOOK, follow_redirects=False)
    offerset = posted.headers["location"]
    page = browser.get(offerset)
    offer = re.search(r'action="[^"]*/sessions/([0-9a-f-]{36})"', page.text)
    assert offer, page.text
    accepted = browser.post(
        f"/sessions/{offer.group(1)}",
        data={"csrf_token": token(page), "phase": "ACCEPTED"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    job = accepted.headers["location"]
    assert job.endswith(f"/jobs/{offer.group(1)}")
    assert wait_until(browser, job, {"COMPLETED", "ERROR"}) == "COMPLETED"
    assert "notebook.ipynb" in browser.get(job).text


def test_page_forms_post_uws_forms_with_the_csrf_token(browser: httpx.Client) -> None:
    page = browser.get("/jobs")
    created = browser.post(
        "/jobs",
        data={"csrf_token": token(page), "cmd": "echo", "args": "from the page", "PHASE": "RUN"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = created.headers["location"]
    wait_until(browser, job, {"COMPLETED"})
    params = browser.get(f"{job}/parameters", headers={"Accept": "application/json"}).json()
    assert "csrf_token" not in str(params)  # the token never becomes a job parameter
    deleted = browser.post(
        job, data={"csrf_token": token(page), "ACTION": "DELETE"}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert browser.get(job).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
    ],
)
def test_cross_site_writes_are_refused(broker: BrokerProcess, headers: dict[str, str]) -> None:
    before = httpx.get(f"{broker.url}/jobs", headers={"Accept": "application/json"}).json()
    response = httpx.post(f"{broker.url}/jobs", data=QUICK, headers=headers)
    assert response.status_code == 403
    assert "cross-site" in response.text
    after = httpx.get(f"{broker.url}/jobs", headers={"Accept": "application/json"}).json()
    assert len(after["jobs"]) == len(before["jobs"])


def test_a_browser_form_without_the_token_is_refused(browser: httpx.Client) -> None:
    browser.get("/jobs")  # sets the cookie
    response = browser.post("/jobs", data=QUICK, follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF token" in response.text
    wrong = browser.post("/jobs", data={**QUICK, "csrf_token": "x" * 43})
    assert wrong.status_code == 403


def test_clients_without_browser_headers_need_no_token(plain: httpx.Client) -> None:
    job = create(plain, QUICK)  # pyvo, curl: no Origin, no Sec-Fetch-*, no cookie
    assert wait_until(plain, job, {"COMPLETED"}) == "COMPLETED"


def test_job_list_page_filters_and_pages(browser: httpx.Client, plain: httpx.Client) -> None:
    job = create(plain, {**QUICK, "RUNID": "page-filter"})
    wait_until(browser, job, {"COMPLETED"})
    job_id = job.rsplit("/", 1)[1]
    assert job_id in browser.get("/jobs", params={"PHASE": "COMPLETED"}).text
    assert job_id not in browser.get("/jobs", params={"PHASE": "PENDING"}).text
    assert job_id not in browser.get("/jobs", params={"AFTER": "2999-01-01T00:00:00Z"}).text
    one = browser.get("/jobs", params={"LAST": "1"}).text
    assert "1 job<" in one
    bad = browser.get("/jobs", params={"PHASE": "NOPE"})
    assert bad.status_code == 400 and "not a UWS phase" in bad.text
    assert bad.headers["content-type"].startswith("text/html")


def test_missing_things_are_html_404_for_browsers(browser: httpx.Client) -> None:
    for url in ("/jobs/nope", "/sessions/00000000-0000-4000-8000-000000000000"):
        page = browser.get(url)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")


def test_the_root_leads_a_browser_to_the_jobs(browser: httpx.Client, plain: httpx.Client) -> None:
    assert browser.get("/", follow_redirects=False).headers["location"].endswith("/jobs")
    assert plain.get("/", follow_redirects=False).headers["location"].endswith("/capabilities")


def test_progress_of_a_running_notebook_everywhere(
    plain: httpx.Client, browser: httpx.Client, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    cells = [
        "x = 1",
        f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)",
    ]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    location = "data:," + quote(json.dumps(notebook), safe="")
    job = create(plain, {"notebook": location, "kind": "interactive", "PHASE": "RUN"})
    deadline = time.monotonic() + 60  # a hang guard
    while True:
        info = plain.get(job, headers={"Accept": "application/json"}).json()
        if info["jobInfo"].get("progress", "").startswith("cell 2 of 2"):
            break
        assert info["phase"] in ("QUEUED", "EXECUTING"), info
        assert time.monotonic() < deadline, info
        plain.get(job, params={"WAIT": 1, "PHASE": info["phase"]})
    assert info["jobInfo"]["progress"] == "cell 2 of 2: import os, time (50%)"
    assert info["jobInfo"]["progress_fraction"] == "0.500"
    xml = plain.get(job).text
    assert "cell 2 of 2: import os, time (50%)" in xml and "progress_fraction" in xml
    session = plain.get(
        f"/sessions/{job.rsplit('/', 1)[1]}", headers={"Accept": "application/json"}
    )
    (progress,) = [m for m in session.json()["meta"]["messages"] if m.get("template") == "progress"]
    assert progress["values"] == {
        "message": "cell 2 of 2: import os, time (50%)",
        "fraction": "0.500",
    }
    page = browser.get(job).text
    assert 'id="progress"' in page and '<progress max="1" value="0.5"' in page
    gate.touch()
    assert wait_until(plain, job, {"COMPLETED", "ERROR"}) == "COMPLETED"
    assert 'id="progress"' not in browser.get(job).text  # only while it runs


def test_multipart_from_a_browser_is_refused(browser: httpx.Client) -> None:
    token(browser.get("/jobs"))
    response = browser.post("/jobs", files={"cmd": (None, "echo")}, follow_redirects=False)
    assert response.status_code == 403
    assert "multipart" in response.text
