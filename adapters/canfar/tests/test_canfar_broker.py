"""The whole chain: a real broker process (UWS over HTTP) -> the CANFAR adapter ->
the skaha emulator. The broker finds the adapter through its entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from canfar_support import TERMINAL
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator
from lxml import etree

from ivoa_broker.testing.broker_http import wait_phase
from tests.server import BrokerProcess


@pytest.fixture
def broker(tmp_path: Path, skaha: EmulatorServer, token: str) -> Iterator[str]:
    config = (
        "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n"
        '[adapters.canfar]\nplugin = "canfar"\n[adapters.canfar.config]\n'
        f'url = "{skaha.url}"\ntoken = "{token}"\ndefault_image = "{TERMINAL}"\n'
        "retries = 1\nbackoff_seconds = 0.01\n"
    )
    process = BrokerProcess(tmp_path, config, args=("--log-level", "warning"))
    try:
        yield process.start(timeout=600).url
    finally:
        process.stop()
        assert token not in process.log_text()  # the broker's own log never shows the token


def test_uws_job_runs_on_the_emulated_canfar(
    broker: str, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    with httpx.Client(base_url=broker, timeout=30) as http:
        created = http.post(
            "/jobs",
            data={
                "cmd": "sh",
                "args": ["-c", "echo${IFS}from-canfar"],
                "platform": "canfar",
                "PHASE": "RUN",
            },
        )
        assert created.status_code == 303, created.text
        job = created.headers["location"]
        phase = wait_phase(http, job, {"COMPLETED", "ERROR", "ABORTED"}, 300)
        assert phase == "COMPLETED", http.get(job).text
        [native] = emulator.native_ids(user[0])
        assert emulator.sessions[native].name.startswith("ivb-")
        results = etree.fromstring(http.get(f"{job}/results").content)
        hrefs = [r.get("{http://www.w3.org/1999/xlink}href") for r in results]
        assert hrefs
        texts = [http.get(h).text for h in hrefs if h]
        assert any("from-canfar" in t for t in texts)
        documents = [
            http.get(job).text,
            http.get(f"{job}/parameters").text,
            http.get(job, headers={"Accept": "application/json"}).text,
            *texts,
        ]
        assert not [d for d in documents if user[1] in d]  # the token is in no job document


def test_pyvo_drives_a_canfar_job_through_the_broker(broker: str) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    created = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo${IFS}via-pyvo"], "platform": "canfar"},
        allow_redirects=False,
    )
    assert created.status_code == 303
    job = AsyncTAPJob(created.headers["Location"], session=session)
    assert job.phase == "PENDING"
    job.run().wait(timeout=120)
    assert job.phase == "COMPLETED"
    job.raise_if_error()
    assert any("via-pyvo" in session.get(uri).text for uri in job.result_uris)
    job.delete()
    assert session.get(job_url := created.headers["Location"]).status_code == 404, job_url

    failing = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "exit${IFS}3"], "platform": "canfar"},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError):
        bad.raise_if_error()
