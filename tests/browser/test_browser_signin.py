"""Signing in to the pages in a real browser (headless Chromium, selenium) on a broker that
requires it (a token file): sent to the sign-in, a wrong token refused, the right one
signs in, a job created from the page runs to COMPLETED, sign out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.server import BrokerProcess

pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.driving import GUARD_SECONDS, shoot, wait_text

TOKEN = "browser-token-0123456789abcdef"
SESSION = "ivoa_broker_session"


@pytest.fixture(scope="module")
def signin_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("browser-signin")
    (workdir / "tokens.txt").write_text(f"{TOKEN} astronomer\n")
    config = '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n[jobs]\nwait_cap = 5\n'
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


def _sign_in_page(chrome: webdriver.Chrome) -> None:
    WebDriverWait(chrome, GUARD_SECONDS).until(ec.presence_of_element_located((By.ID, "token")))
    assert "/login" in chrome.current_url
    assert chrome.title.startswith("Sign in")


def test_sign_in_run_a_job_sign_out(
    chrome: webdriver.Chrome, signin_broker: BrokerProcess, shots: list[Path], tmp_path: Path
) -> None:
    url = signin_broker.url
    chrome.get(f"{url}/jobs?PHASE=COMPLETED")
    _sign_in_page(chrome)  # the 401 became the sign-in page, remembering where we were
    assert unquote(chrome.current_url).endswith("next=/jobs?PHASE=COMPLETED")
    chrome.find_element(By.ID, "token").send_keys("not-the-token-0123456789")
    chrome.find_element(By.ID, "sign-in").click()
    wait_text(chrome, "error", "not valid")
    assert "not-the-token-0123456789" not in chrome.page_source
    shoot(chrome, shots, tmp_path, "sign-in")
    chrome.find_element(By.ID, "token").send_keys(TOKEN)
    chrome.find_element(By.ID, "sign-in").click()
    wait_text(chrome, "who", "astronomer")
    assert chrome.current_url == f"{url}/jobs?PHASE=COMPLETED"
    assert TOKEN not in chrome.page_source
    cookie = chrome.get_cookie(SESSION)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert TOKEN not in cookie["value"]
    assert SESSION not in chrome.execute_script("return document.cookie;")  # HttpOnly
    chrome.get(f"{url}/jobs")
    chrome.find_element(By.ID, "cmd").clear()
    chrome.find_element(By.ID, "cmd").send_keys("sh")
    chrome.find_element(By.ID, "arg0").send_keys("-c")
    chrome.find_element(By.ID, "arg1").send_keys("echo 42")
    chrome.find_element(By.ID, "runid").send_keys("signed in")
    chrome.find_element(By.ID, "create").click()
    wait_text(chrome, "phase", "COMPLETED")
    assert "astronomer" in chrome.find_element(By.ID, "job").text
    shoot(chrome, shots, tmp_path, "signed-in-job")
    WebDriverWait(chrome, GUARD_SECONDS).until(
        ec.element_to_be_clickable((By.LINK_TEXT, "stdout"))
    ).click()
    WebDriverWait(chrome, GUARD_SECONDS).until(lambda c: "/results/stdout" in c.current_url)
    assert "42" in chrome.find_element(By.TAG_NAME, "body").text
    chrome.get(f"{url}/jobs")
    chrome.find_element(By.ID, "sign-out").click()
    _sign_in_page(chrome)
    assert chrome.get_cookie(SESSION) is None
    chrome.get(f"{url}/jobs")
    _sign_in_page(chrome)  # signed out: the jobs are behind the sign-in again
    assert "signed in" not in chrome.page_source
