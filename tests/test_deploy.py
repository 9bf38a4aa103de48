"""The deployment examples in ``deploy/`` work as documented in docs/operating.md:
the production-style config starts (identities required, JSON logs, ready), metrics
are served, an online backup taken while serving restores into a working broker, and
the systemd unit runs what the guide says with its sandboxing on."""

from __future__ import annotations

import configparser
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    work = tmp_path_factory.mktemp("deployed")
    shutil.copy(DEPLOY / "tokens.txt.example", work / "tokens.txt")
    config = (DEPLOY / "broker.toml").read_text()
    process = BrokerProcess(work, config=config)
    # BrokerProcess waits for /availability, which stays public with anonymous off
    process.start()
    yield process
    process.stop()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_example_config_passes_check_config(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "broker.toml", tmp_path / "broker.toml")
    shutil.copy(DEPLOY / "tokens.txt.example", tmp_path / "tokens.txt")
    done = subprocess.run(
        [sys.executable, "-m", "ivoa_broker.cli", "check-config", str(tmp_path / "broker.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_identity_is_required_and_jobs_run(deployed: BrokerProcess) -> None:
    assert httpx.get(f"{deployed.url}/jobs").status_code == 401
    created = httpx.post(
        f"{deployed.url}/jobs",
        data={"cmd": "true", "PHASE": "RUN"},
        headers=_auth(),
        follow_redirects=False,
    )
    assert created.status_code == 303
    job = created.headers["location"]
    phase = ""
    for _ in range(10):
        body = httpx.get(f"{job}?WAIT=10", headers={**_auth(), "Accept": "application/json"}).json()
        phase = body["phase"]
        if phase == "COMPLETED":
            break
    assert phase == "COMPLETED"


def test_ready_health_and_metrics(deployed: BrokerProcess) -> None:
    assert httpx.get(f"{deployed.url}/healthz").text == "ok\n"
    ready = httpx.get(f"{deployed.url}/readyz")
    assert ready.status_code == 200, ready.text
    httpx.post(f"{deployed.url}/jobs", data={"cmd": "true"}, headers=_auth())
    metrics = httpx.get(f"{deployed.url}/metrics")
    assert metrics.status_code == 200
    assert "ivoa_broker_jobs{" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")


def test_logs_are_json_lines_without_tokens(deployed: BrokerProcess) -> None:
    httpx.get(f"{deployed.url}/jobs?access_token=leaky-secret-value", headers=_auth())
    lines = [line for line in deployed.log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(parsed) >= len(lines) - 2, "every log line is one JSON object"
    assert any(p["logger"].startswith("uvicorn.access") for p in parsed)
    text = deployed.log.read_text()
    assert TOKEN not in text
    assert "leaky-secret-value" not in text


def test_online_backup_restores(deployed: BrokerProcess, tmp_path: Path) -> None:
    for _ in range(3):
        httpx.post(f"{deployed.url}/jobs", data={"cmd": "true"}, headers=_auth())
    copy = tmp_path / "backup.db"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ivoa_broker.cli",
            "backup",
            "--database",
            str(deployed.workdir / "broker.db"),
            str(copy),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(copy) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
        ids = {row[0] for row in db.execute("SELECT job_id FROM jobs")}
    assert count >= 3
    assert f"({count} jobs)" in done.stdout
    # restore into a fresh folder and serve it
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(copy, restored / "broker.db")
    shutil.copy(DEPLOY / "tokens.txt.example", restored / "tokens.txt")
    second = BrokerProcess(restored, config=(DEPLOY / "broker.toml").read_text()).start()
    try:
        listing = httpx.get(
            f"{second.url}/jobs", headers={**_auth(), "Accept": "application/json"}
        ).json()
        seen = {ref["jobId"] for ref in listing["jobs"]}
        assert ids <= seen
    finally:
        second.stop()


def test_systemd_unit_runs_the_documented_commands_sandboxed() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "ivoa-broker.service").read_text())
    service = unit["Service"]
    assert "check-config /etc/ivoa-broker/broker.toml" in service["ExecStartPre"]
    assert "serve --config /etc/ivoa-broker/broker.toml" in service["ExecStart"]
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "StateDirectory": "ivoa-broker",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert service[key] == value, key
    analyze = shutil.which("systemd-analyze")
    if analyze:
        done = subprocess.run(
            [analyze, "verify", str(DEPLOY / "ivoa-broker.service")],
            capture_output=True,
            text=True,
            check=False,
        )
        # a missing /opt/ivoa-broker binary is expected on a test machine; syntax is not
        assert "Unknown key" not in done.stderr and "Invalid" not in done.stderr, done.stderr


def test_metrics_on_a_port_of_their_own(tmp_path: Path) -> None:
    from tests.server import free_port

    port = free_port()
    process = BrokerProcess(tmp_path, config=f"[server]\nmetrics_port = {port}\n").start()
    try:
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert "ivoa_broker_jobs" in scraped.text
        assert httpx.get(f"http://127.0.0.1:{port}/jobs").status_code == 404
    finally:
        process.stop()


def test_platform_calls_are_measured(deployed: BrokerProcess) -> None:
    created = httpx.post(
        f"{deployed.url}/jobs",
        data={"cmd": "true", "PHASE": "RUN"},
        headers=_auth(),
        follow_redirects=False,
    )
    httpx.get(f"{created.headers['location']}?WAIT=10", headers=_auth())
    text = httpx.get(f"{deployed.url}/metrics").text
    assert 'ivoa_broker_platform_call_seconds_count{adapter="local",method="submit"}' in text
