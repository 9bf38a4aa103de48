"""Through a real broker process: a missing sandbox is said at start-up and in
/availability, and no job runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ivoa_broker.testing.broker_http import wait_phase
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
        assert wait_phase(http, url, {"ERROR", "COMPLETED"}) == "ERROR"
        assert "cannot sandbox jobs" in http.get(url + "/error").text
    log = Path(unsandboxable.log).read_text()
    assert "jobs cannot be sandboxed" in log


ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"
ALICE_DATA = "alice-private-result-42"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """Two owners, bearer tokens from a file, the default (sandboxed) local platform."""
    workdir = tmp_path_factory.mktemp("sandboxed")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    config = '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


def _run(http: httpx.Client, script: str) -> str:
    created = http.post(
        "/jobs", data={"cmd": "sh", "args": ["-c", script], "PHASE": "RUN"}, follow_redirects=False
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    phase = wait_phase(http, url, {"ERROR", "COMPLETED"})
    assert phase == "COMPLETED", http.get(url + "/error").text
    return http.get(url + "/results/stdout").text


def test_one_owners_job_reads_neither_the_brokers_secrets_nor_another_owners_results(
    secured: BrokerProcess,
) -> None:
    workdir = secured.workdir
    assert secured.proc is not None
    with (
        httpx.Client(
            base_url=secured.url, timeout=30, headers={"Authorization": f"Bearer {ALICE}"}
        ) as alice,
        httpx.Client(
            base_url=secured.url, timeout=30, headers={"Authorization": f"Bearer {BOB}"}
        ) as bob,
    ):
        _run(alice, f'echo {ALICE_DATA} > "$IVOA_BROKER_OUTPUT_DIR/result.txt"')
        [result] = list(workdir.rglob("result.txt"))  # where the broker keeps it
        assert result.read_text().strip() == ALICE_DATA
        tries = {
            "tokens": f"cat {workdir / 'tokens.txt'}",
            "config": f"cat {workdir / 'broker.toml'}",
            "store": f"ls {workdir}/*.db",
            "alice-result": f"cat {result}",
            "broker-cmdline": f"cat /proc/{secured.proc.pid}/cmdline",
            "broker-environ": f"cat /proc/{secured.proc.pid}/environ",
        }
        script = "\n".join(
            f"if ({cmd}) >/dev/null 2>&1; then echo 'READ {name}'; else echo 'DENIED {name}'; fi"
            for name, cmd in tries.items()
        )
        script += f"\ncat {result} {workdir / 'tokens.txt'} 2>/dev/null; true"
        stdout = _run(bob, script)
    assert stdout.splitlines() == [f"DENIED {name}" for name in tries], stdout
    assert ALICE not in stdout and BOB not in stdout and ALICE_DATA not in stdout
