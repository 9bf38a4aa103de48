"""The whole chain on the real hub: a broker process (``ivoa-broker serve``)
finds the adapter through its entry point; pyvo runs a batch notebook through
UWS, and an ExecutionBroker ``jupyter-notebook`` request is answered YES,
accepted, and its session endpoint really serves (with the scoped token only)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hub_support import file_server, notebook
from ivoa_broker_jupyterhub.localhub import LocalHub

from ivoa_broker.testing.broker_http import accept_offer, wait_phase, wait_session
from tests.server import BrokerProcess

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}
ALICE = {"Authorization": "Bearer alice-token-0123456789"}


@pytest.fixture(scope="module")
def notebooks() -> Iterator[str]:
    files = {
        "ok.ipynb": notebook("print('via pyvo')", "open('answer.txt', 'w').write(str(6 * 7))"),
        "broken.ipynb": notebook("1 / 0"),
        "session.ipynb": notebook("print('interactive')"),
    }
    with file_server(files) as base:
        yield base


@pytest.fixture(scope="module")
def broker(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("jh-broker")
    (workdir / "tokens.txt").write_text("alice-token-0123456789 alice\n")
    config = (
        '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
        "[jobs]\nwait_cap = 10\noffer_deadline = 20\n"
        '[adapters.hub]\nplugin = "jupyterhub"\n[adapters.hub.config]\n'
        f'url = "{hub.url}"\ntoken_file = "{hub.token_file}"\n'
    )
    process = BrokerProcess(workdir, config=config).start(timeout=120)
    yield process
    process.stop()
    assert hub.token.reveal() not in process.log.read_text(errors="replace")


def _pyvo_session() -> Any:
    import pyvo

    session = pyvo.utils.http.create_session()
    session.headers.update(ALICE)
    return session


def test_pyvo_runs_a_notebook_through_the_broker(
    broker: BrokerProcess, notebooks: str, hub: LocalHub
) -> None:
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = _pyvo_session()
    created = session.post(
        f"{broker.url}/jobs",
        data={"notebook": f"{notebooks}/ok.ipynb", "platform": "hub"},
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    failing = session.post(
        f"{broker.url}/jobs",
        data={"notebook": f"{notebooks}/broken.ipynb", "platform": "hub"},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    job.run()
    bad.run()
    job.wait(timeout=400)
    assert job.phase == "COMPLETED", session.get(job.url).text
    job.raise_if_error()
    texts = {uri.rsplit("/", 1)[-1]: session.get(uri).text for uri in job.result_uris}
    assert texts["answer.txt"] == "42"
    assert "via pyvo" in texts["ok.ipynb"]  # the executed notebook, with its outputs
    bad.wait(timeout=400)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError, match="ZeroDivisionError"):
        bad.raise_if_error()
    documents = [session.get(job.url).text, session.get(bad.url).text, *texts.values()]
    assert not [d for d in documents if hub.token.reveal() in d]
    job.delete()
    bad.delete()


def test_execution_broker_notebook_session_is_offered_accepted_and_serves(
    broker: BrokerProcess, notebooks: str, hub: LocalHub
) -> None:
    request = {
        "executable": {
            "kind": f"{K}executable/jupyter-notebook.yaml",
            "meta": {"name": "session"},
            "location": f"{notebooks}/session.ipynb",
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": "PT10M"}},
    }
    with httpx.Client(base_url=broker.url, headers=ALICE, timeout=60) as http:
        answer = http.post("/requests", json=request, headers=JSON)
        assert answer.status_code == 303, answer.text
        offers = answer.json()
        assert offers["result"] == "YES", offers
        (offer,) = offers["offers"]
        session = offer["meta"]["uuid"]
        accept_offer(http, session)
        job = f"{broker.url}/jobs/{session}"
        assert wait_phase(http, job, {"EXECUTING", "ERROR", "ABORTED"}, 400) == "EXECUTING"
        doc = wait_session(http, session, until=lambda d: bool(d.get("connectors")))
        (connector,) = doc["connectors"]
        assert connector["status"] == "AVAILABLE"
        location = connector["location"]
        assert location.startswith(f"{hub.url}/user/alice/")
        assert hub.token.reveal() not in location
        token = httpx.URL(location).params["token"]
        server = location.split("lab/tree/")[0]
        path = location.split("lab/tree/")[1].split("?")[0]
        with httpx.Client(timeout=60) as outside:
            served = outside.get(
                f"{server}api/contents/{path}", headers={"Authorization": f"token {token}"}
            )
            assert served.status_code == 200
            assert "interactive" in served.text
            assert outside.get(f"{server}api/contents/{path}").status_code in (401, 403)
        cancelled = http.post(
            f"/sessions/{session}",
            json={"kind": "uri:enum-value-update", "path": "phase", "value": "CANCELLED"},
            headers=JSON,
        )
        assert cancelled.status_code == 200, cancelled.text
        assert wait_phase(http, job, {"ABORTED", "ERROR", "COMPLETED"}, 400) == "ABORTED"
    with httpx.Client(timeout=60) as outside:
        deadline = time.monotonic() + 60
        while (
            outside.get(
                f"{server}api/status", headers={"Authorization": f"token {token}"}
            ).status_code
            == 200
        ):
            assert time.monotonic() < deadline, "the session's server still serves"
            time.sleep(0.5)
