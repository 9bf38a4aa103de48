"""The whole chain on both real engines: a broker process (UWS and ExecutionBroker over
HTTP) -> the docker adapter (found through its entry point) -> dockerd / Podman."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from docker_engines import IMAGE, ContainerEngines
from docker_support import assert_unlisted_image_refused, container_request

from ivoa_broker.testing.broker_http import accept_offer, session_results, wait_phase
from tests.eb_http.docs import offerset
from tests.server import BrokerProcess

JSON = {"Accept": "application/json"}
PLATFORMS = ("dockerd", "podman")


@pytest.fixture(scope="module")
def broker(
    container_engines: ContainerEngines, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("docker-broker")
    blocks = []
    for name, kind in (("dockerd", "docker"), ("podman", "podman")):
        engine = container_engines.engines[kind]
        blocks.append(
            f'[adapters.{name}]\nplugin = "docker"\n[adapters.{name}.config]\n'
            f'host = "{engine.host}"\ndefault_image = "{IMAGE}"\npull_policy = "never"\n'
            f'allowed_images = ["localhost/*"]\nstop_grace_seconds = 2\n'
        )
    config = "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n" + "".join(blocks)
    process = BrokerProcess(workdir, config=config).start()
    yield process
    process.stop()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pyvo_drives_a_container_job_through_the_broker(
    broker: BrokerProcess, platform: str
) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    created = session.post(
        f"{broker.url}/jobs",
        data={
            "cmd": "sh",
            "args": ["-c", "echo${IFS}via-pyvo;echo${IFS}f>$IVOA_BROKER_OUTPUT/f.txt"],
            "platform": platform,
        },
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    job.run().wait(timeout=120)
    assert job.phase == "COMPLETED", session.get(job.url).text
    job.raise_if_error()
    texts = {uri.rsplit("/", 1)[-1]: session.get(uri).text for uri in job.result_uris}
    assert texts["stdout"] == "via-pyvo\n"
    assert texts["f.txt"] == "f\n"
    job.delete()

    failing = session.post(
        f"{broker.url}/jobs",
        data={"cmd": "sh", "args": ["-c", "exit${IFS}3"], "platform": platform},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError):
        bad.raise_if_error()
    bad.delete()


def test_execution_broker_docker_container_request_is_offered_and_accepted(
    broker: BrokerProcess,
) -> None:
    with httpx.Client(base_url=broker.url, timeout=30) as http:
        found = offerset(http, container_request(IMAGE, "echo", "from-eb"))
        assert found["result"] == "YES", found
        offers = found["offers"]
        assert len(offers) == len(PLATFORMS)
        first = offers[0]["meta"]["uuid"]
        accept_offer(http, first)
        phase = wait_phase(http, f"/jobs/{first}", {"COMPLETED", "ERROR", "ABORTED"}, 90)
        assert phase == "COMPLETED"
        done = http.get(f"/sessions/{first}", headers=JSON).json()
        assert done["phase"] == "COMPLETED"
        results = session_results(http, first)
        assert http.get(results["stdout"]).text == "from-eb\n"

        assert_unlisted_image_refused(http)
