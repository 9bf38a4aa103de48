"""The whole chain: a real broker process -> the Azimuth adapter (found through its entry
point) -> the emulated portal -> a machine whose guest reports to the broker's own
``/callbacks`` route. Driven with pyvo (UWS) and with an ExecutionBroker request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from ivoa_broker_azimuth.emulator import EmulatorServer

from ivoa_broker.testing.broker_http import accept_offer, session_results, wait_session
from tests.eb_http.docs import offerset
from tests.server import BrokerProcess

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def broker_cred(portal: EmulatorServer) -> tuple[str, str]:
    """A tenancy and credential of its own for the one broker of this module."""
    emulator = portal.emulator
    tenancy = emulator.add_tenancy(f"broker-{uuid.uuid4().hex[:6]}", cpus=64, machines=20)
    cred = (uuid.uuid4().hex, f"s3cret-{uuid.uuid4().hex}")
    emulator.add_appcred(cred[0], cred[1], "broker-user", tenancy.id)
    return cred


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, portal: EmulatorServer, broker_cred: tuple[str, str]
) -> Iterator[str]:
    """One broker process for the module (it takes a while to import every plug-in)."""
    cred = broker_cred
    process = BrokerProcess(
        tmp_path_factory.mktemp("azimuth-broker"), args=("--log-level", "warning")
    )
    process.config = (
        f'[server]\npublic_url = "{process.url}"\n'
        "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n"
        '[adapters.azimuth]\nplugin = "azimuth"\n[adapters.azimuth.config]\n'
        f'url = "{portal.url}"\napplication_credential_id = "{cred[0]}"\n'
        f'application_credential_secret = "{cred[1]}"\n'
        "retries = 1\nbackoff_seconds = 0.01\ncache_seconds = 1\n"
    )
    try:
        yield process.start(timeout=600).url
    finally:
        process.stop()
        assert cred[1] not in process.log_text()  # the broker's log never shows the credential


def test_pyvo_drives_an_azimuth_machine_through_the_broker(broker: str) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    created = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo via-pyvo"], "platform": "azimuth"},
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    assert job.phase == "PENDING"
    job.run().wait(timeout=120)
    assert job.phase == "COMPLETED", session.get(job.url).text
    job.raise_if_error()
    assert any("via-pyvo" in session.get(uri).text for uri in job.result_uris)
    job.delete()

    failing = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "exit 3"], "platform": "azimuth"},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError):
        bad.raise_if_error()


def test_execution_broker_container_offer_accepted_and_run(broker: str) -> None:
    request = {
        "executable": {
            "kind": f"{K}executable/docker-container.yaml",
            "meta": {"name": "hello"},
            "image": {"locations": ["docker.io/library/alpine:3.20"]},
            "command": ["echo", "hello from azimuth"],
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 2}},
        "schedule": {"requested": {"duration": "PT10M"}},
    }
    with httpx.Client(base_url=broker, timeout=30) as http:
        found = offerset(http, request)
        [offer] = [o for o in found["offers"] if o["meta"]["name"] == "azimuth"]
        session = offer["meta"]["uuid"]
        accepted = accept_offer(http, session)
        assert accepted["meta"]["uuid"] == session
        done = wait_session(http, session, {"COMPLETED", "FAILED", "CANCELLED"}, limit=60)
        assert done["phase"] == "COMPLETED", done
        results = session_results(http, session)
        assert http.get(results["stdout"]).text == "hello from azimuth\n"


def test_execution_broker_notebook_gets_an_app_endpoint(broker: str) -> None:
    request = {
        "executable": {
            "kind": f"{K}executable/jupyter-notebook.yaml",
            "meta": {"name": "nb"},
            "location": "https://example.org/notebooks/example.ipynb",
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": "PT1H"}},
    }
    with httpx.Client(base_url=broker, timeout=30) as http:
        found = offerset(http, request)
        [offer] = [o for o in found["offers"] if o["meta"]["name"] == "azimuth"]
        session = offer["meta"]["uuid"]
        accept_offer(http, session)
        running = wait_session(http, session, {"RUNNING", "FAILED", "CANCELLED"}, limit=60)
        assert running["phase"] == "RUNNING", running
        text = str(running)
        assert "/kubernetes_apps/" in text and "/services/jupyterhub/" in text
        cancel = {"kind": "uri:enum-value-update", "path": "phase", "value": "CANCELLED"}
        assert http.post(f"/sessions/{session}", json=cancel, headers=JSON).status_code == 200
        wait_session(http, session, {"CANCELLED"}, limit=60)
