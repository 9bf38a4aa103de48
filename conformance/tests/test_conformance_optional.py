"""pyvo is optional: without it the pyvo checks skip and say why."""

from __future__ import annotations

import sys

import pytest
from conformance_support import run
from ivoa_broker_conformance.model import Outcome

PYVO_CHECKS = {"UWS-15", "UWS-65", "UWS-69", "UWS-72", "UWS-75", "UWS-79", "UWS-80"}


def test_pyvo_checks_skip_without_pyvo(fixture_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvo", None)  # makes "import pyvo" raise ImportError
    report = run(fixture_base, "ok", PYVO_CHECKS)
    assert {r.id: r.outcome for r in report.results} == dict.fromkeys(PYVO_CHECKS, Outcome.SKIP)
    assert all("pyvo is not installed" in r.message for r in report.results)
