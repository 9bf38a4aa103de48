"""Probe: what one job stored (a RUNID with control characters, stderr with ANSI colour
codes in its error) cannot break its owner's views: every list and document renders,
the odd characters made safe."""

from __future__ import annotations

import uuid

import pytest

from tests.probe.conftest import Probe, create, settle

RUNIDS = ["tab\there", "new\nline", "nul\x00byte", "esc\x1b[31mred", "bell\x07", "del\x7f", "\x85"]


@pytest.fixture(scope="module")
def odd_jobs(probe: Probe) -> list[str]:
    jobs = [create(probe.alice, {"cmd": "true", "RUNID": r, "PHASE": "RUN"}) for r in RUNIDS]
    failing = create(
        probe.alice,
        {
            "cmd": "sh",
            "args": [
                "-c",
                r"printf '\033[31mboom\033[0m \001\002\033]0;title\007 done' >&2; exit 3",
            ],
            "PHASE": "RUN",
        },
    )
    assert settle(probe.alice, failing) == "ERROR"
    for job in jobs:
        settle(probe.alice, job)
    return [*jobs, failing]


@pytest.mark.parametrize("accept", ["application/yaml", "application/json", "application/xml"])
def test_session_list_renders(probe: Probe, odd_jobs: list[str], accept: str) -> None:
    response = probe.alice.get("/sessions", headers={"Accept": accept})
    assert response.status_code == 200, response.text[:300]
    assert "\x1b" not in response.text


@pytest.mark.parametrize("accept", ["application/yaml", "application/json", "application/xml"])
def test_every_session_renders(probe: Probe, odd_jobs: list[str], accept: str) -> None:
    for job in odd_jobs:
        response = probe.alice.get(f"/sessions/{uuid.UUID(job)}", headers={"Accept": accept})
        assert response.status_code == 200, (job, response.text[:300])
        assert "\x1b" not in response.text


def test_error_message_keeps_its_words(probe: Probe, odd_jobs: list[str]) -> None:
    failing = odd_jobs[-1]
    text = probe.alice.get(
        f"/sessions/{uuid.UUID(failing)}", headers={"Accept": "application/json"}
    ).text
    assert "boom" in text and "done" in text and "[31m" not in text


@pytest.mark.parametrize("accept", ["*/*", "application/json"])
def test_uws_views_render(probe: Probe, odd_jobs: list[str], accept: str) -> None:
    assert probe.alice.get("/jobs", headers={"Accept": accept}).status_code == 200
    for job in odd_jobs:
        for path in ("", "/error", "/parameters", "/results"):
            response = probe.alice.get(f"/jobs/{job}{path}", headers={"Accept": accept})
            assert response.status_code in (200, 404), (job, path, response.text[:200])
