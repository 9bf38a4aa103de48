"""The HTML pages in a real browser: headless Chromium driven by selenium.

Chromium and chromedriver come from Debian (``.ci/install.d/45-chromium.sh``). The broker is
the session's real broker process (``tests/server.py``, default settings); the browser
and the screenshots are ``conftest.py``'s. Screenshots go to the test's temporary folder
and, when ``IVOA_BROKER_SCREENSHOTS`` names a folder, there too (that is how
``docs/screenshots/`` is made).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.server import BrokerProcess

pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.driving import GUARD_SECONDS, shoot, wait_text

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"


def test_create_a_job_watch_it_complete_and_open_a_result(
    chrome: webdriver.Chrome, broker: BrokerProcess, shots: list[Path], tmp_path: Path
) -> None:
    chrome.get(f"{broker.url}/jobs")
    assert chrome.title.startswith("Jobs")
    chrome.find_element(By.ID, "cmd").clear()
    chrome.find_element(By.ID, "cmd").send_keys("sh")
    chrome.find_element(By.ID, "arg0").send_keys("-c")
    # waits for a file the test creates, so the page is seen before the job ends
    gate = tmp_path / "go"
    chrome.find_element(By.ID, "arg1").send_keys(
        f"while [ ! -e {gate} ]; do sleep 0.1; done; echo 42; "
        "echo done > $IVOA_BROKER_OUTPUT_DIR/answer.txt"
    )
    chrome.find_element(By.ID, "runid").send_keys("from the browser")
    chrome.find_element(By.ID, "create").click()
    wait_text(chrome, "phase", "EXECUTING")
    chrome.execute_script("window.notReloaded = true;")
    shoot(chrome, shots, tmp_path, "job-executing")
    gate.touch()
    wait_text(chrome, "phase", "COMPLETED")  # updated by the page's WAIT long-poll
    assert chrome.execute_script("return window.notReloaded === true;")
    shoot(chrome, shots, tmp_path, "job-completed")
    link = WebDriverWait(chrome, GUARD_SECONDS).until(
        ec.element_to_be_clickable((By.LINK_TEXT, "stdout"))
    )
    link.click()
    WebDriverWait(chrome, GUARD_SECONDS).until(lambda c: "/results/stdout" in c.current_url)
    assert "42" in chrome.find_element(By.TAG_NAME, "body").text
    chrome.get(f"{broker.url}/jobs")
    assert "from the browser" in chrome.page_source
    shoot(chrome, shots, tmp_path, "job-list")


def test_accept_a_notebook_offer(
    chrome: webdriver.Chrome, broker: BrokerProcess, shots: list[Path], tmp_path: Path
) -> None:
    notebook = (
        '{"cells":[{"cell_type":"code","id":"a","metadata":{},"outputs":[],'
        '"execution_count":null,"source":"print(6*7)"}],"metadata":{},'
        '"nbformat":4,"nbformat_minor":5}'
    )
    request = {
        "executable": {
            "kind": f"{K}executable/jupyter-notebook.yaml",
            "location": "data:," + quote(notebook, safe=""),
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
    }
    posted = httpx.post(f"{broker.url}/requests", json=request, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    chrome.get(posted.headers["location"])
    wait_text(chrome, "result", "YES")
    shoot(chrome, shots, tmp_path, "offerset")
    accept = chrome.find_element(By.CSS_SELECTOR, "button.accepted")
    accept.click()
    wait_text(chrome, "phase", "COMPLETED")
    assert "notebook.ipynb" in chrome.find_element(By.ID, "results").text
    shoot(chrome, shots, tmp_path, "notebook-completed")
    chrome.get(f"{broker.url}/availability")
    wait_text(chrome, "available", "yes")
    shoot(chrome, shots, tmp_path, "availability")
