"""Through a real broker process: a missing sandbox is said at start-up and in
/availability, and no job runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess

CONFIG = """
[adapters.local]
plugin = "local"
[adapters.local.config]
bwrap = "{bwrap}"
"""


@pytest.fixture(scope="module")
def unsandboxable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("no-sandbox")
    config = CONFIG.format(bwrap=workdir / "no-such-bwrap")
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


def test_a_broker_without_sandbox_says_so_and_runs_nothing(unsandboxable: BrokerProcess) -> None:
    with httpx.Client(base_url=unsandboxable.url, timeout=30) as http:
        availability = http.get("/availability").text
        assert "cannot be sandboxed" in availability
        assert 'sandbox = "none"' in availability or "sandbox = &quot;none&quot;" in availability
        created = http.post("/jobs", data={"cmd": "true", "PHASE": "RUN"}, follow_redirects=False)
        assert created.status_code == 303
        url = created.headers["location"]
        while (phase := http.get(url + "/phase").text) not in ("ERROR", "COMPLETED"):
            http.get(url, params={"WAIT": 5})
        assert phase == "ERROR"
        assert "cannot sandbox jobs" in http.get(url + "/error").text
    log = Path(unsandboxable.log).read_text()
    assert "jobs cannot be sandboxed" in log
