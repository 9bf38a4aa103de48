"""SIGKILL the broker while a job runs; start it again; nothing is lost."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx

from tests.server import BrokerProcess, local_platform
from tests.web.helpers import UWS, create, doc, wait_until


def _gated(folder: Path) -> str:
    """The local platform, sandboxed as by default, its jobs able to read ``folder`` (the
    job waits there for a file the test makes)."""
    return local_platform(sandbox_paths=[folder])


def test_sigkill_restart_reattaches_running_job(tmp_path) -> None:  # type: ignore[no-untyped-def]
    gate = tmp_path / "gate"
    gate.mkdir()
    release = gate / "release"
    script = (
        "echo before; touch $IVOA_BROKER_OUTPUT_DIR/started; "
        f"while [ ! -e {release} ]; do sleep 0.1; done; "
        "echo after; echo result > $IVOA_BROKER_OUTPUT_DIR/final.txt"
    )
    first = BrokerProcess(tmp_path, config=_gated(gate)).start()
    with httpx.Client(base_url=first.url, timeout=30) as http:
        done = create(http, {"cmd": "echo", "args": "early", "RUNID": "r-done", "PHASE": "RUN"})
        wait_until(http, done, {"COMPLETED"})
        pending = create(http, {"cmd": "echo", "args": "later", "cores": "1"})
        running = create(
            http, {"cmd": "sh", "args": ["-c", script], "RUNID": "r-run", "PHASE": "RUN"}
        )
        deadline = time.monotonic() + 15
        while not any(tmp_path.rglob("started")):  # in the job's own output folder
            assert time.monotonic() < deadline
            time.sleep(0.05)
        before = {u: http.get(u).content for u in (done, pending)}
    first.kill()

    release.touch()  # the job finishes while no broker is running
    second = BrokerProcess(tmp_path, config=_gated(gate), port=first.port).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            for url, body in before.items():
                assert http.get(url).content == body, "a stored job changed across restart"
            assert wait_until(http, running, {"COMPLETED", "ERROR"}) == "COMPLETED"
            root = doc(http.get(running))
            assert root.find(UWS + "runId").text == "r-run"
            ids = {r.get("id") for r in root.iter(UWS + "result")}
            assert {"stdout", "final.txt"} <= ids
            assert http.get(running + "/results/stdout").text == "before\nafter\n"
            assert http.get(running + "/results/final.txt").text == "result\n"
            assert http.get(done + "/results/stdout").text == "early\n"
            params = {p.get("id"): p.text for p in doc(http.get(pending)).iter(UWS + "parameter")}
            assert params == {"cmd": "echo", "args": "later", "cores": "1"}
    finally:
        second.stop()


def test_restart_with_platform_gone_is_an_honest_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = BrokerProcess(tmp_path).start()
    with httpx.Client(base_url=first.url, timeout=30) as http:
        running = create(http, {"cmd": "sleep", "args": "30", "PHASE": "RUN"})
        wait_until(http, running, {"EXECUTING"})
    first.kill()
    config = '[adapters.elsewhere]\nplugin = "local"\n'
    second = BrokerProcess(tmp_path, config=config, port=first.port).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            root = doc(http.get(running))
            assert root.find(UWS + "phase").text == "ERROR"
            message = root.find(UWS + "errorSummary").find(UWS + "message").text
            assert "'local' is not available after a broker restart" in message
    finally:
        second.stop()
        _kill_orphan(tmp_path, running.rsplit("/", 1)[1])


def _kill_orphan(workdir, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """The job was left running on purpose; stop its process group now."""
    import json
    import os
    import signal

    runner = workdir / "broker-work" / "local" / job_id / "runner.json"
    pid = json.loads(runner.read_text())["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
