"""Small steps of driving the browser in tests (import after selenium is known to exist)."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

#: a hang guard for each wait in the browser, not a timing assertion
GUARD_SECONDS = 60


def shoot(chrome: webdriver.Chrome, shots: list[Path], folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    assert chrome.save_screenshot(str(path))
    shots.append(path)


def wait_text(chrome: webdriver.Chrome, element_id: str, text: str) -> None:
    WebDriverWait(chrome, GUARD_SECONDS).until(
        ec.text_to_be_present_in_element((By.ID, element_id), text)
    )
